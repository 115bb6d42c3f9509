// An in-process log for API tests: a fresh database (PGlite or a PostgreSQL schema), a fixed test
// key, the real sequencer and publisher, and the hono app to call with app.request().

import { createApp } from "../../src/api/app.ts";
import { Auth } from "../../src/api/auth.ts";
import type { LogContext } from "../../src/api/context.ts";
import { Denials } from "../../src/api/denials.ts";
import { logMetrics } from "../../src/api/metrics.ts";
import { RateLimiter } from "../../src/api/rate-limit.ts";
import { generateKey, parseSignerKey } from "../../src/core/keys.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { OwnEventWriter } from "../../src/server/own-event-writer.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb, type TestDb } from "./db.ts";
import { makeBatch } from "./events.ts";

export const ORIGIN = "test.tmuxtrail/log";
export const TEST_KEY = generateKey(ORIGIN, new Uint8Array(32).fill(7));
export const ADMIN = "tt_test_admin_token";

export interface TestLog {
  db: TestDb;
  ctx: LogContext;
  app: ReturnType<typeof createApp>;
  /** Fetches through app.request with the admin token unless another is given. */
  req(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export async function openTestLog(
  opts: {
    rateLimit?: number;
    /** Unknown tokens per minute per address, and command searches per minute per key. */
    authFailureLimit?: number;
    searchRateLimit?: number;
    publicMetrics?: boolean;
    batchMax?: number;
    alertUrl?: string;
    witnessKeys?: string[];
    witnessQuorum?: number;
    /** How often the publisher signs (default 50 ms). */
    publishIntervalMs?: number;
    /** A database to serve instead of a fresh one (closed with the log). */
    db?: TestDb;
  } = {},
): Promise<TestLog> {
  const db = opts.db ?? (await openTestDb());
  const hasher = nodeHasher;
  const sequencer = new Sequencer(db.sql, { maxBatch: opts.batchMax ?? 1000, lingerMs: 1, hasher });
  const publisher = new Publisher(db.sql, {
    origin: ORIGIN,
    signer: parseSignerKey(TEST_KEY.signerKey),
    hasher,
    intervalMs: opts.publishIntervalMs ?? 50,
  });
  await publisher.publish();
  publisher.start();
  const metrics = logMetrics();
  const log = (m: string) => {
    if (process.env.TEST_LOG) console.error(m);
  };
  const ctx: LogContext = {
    sql: db.sql,
    readSql: db.sql,
    batches: new BatchStore(db.sql),
    sequencer,
    publisher,
    auth: new Auth(db.sql, ADMIN),
    metrics,
    hasher,
    origin: ORIGIN,
    verifierKey: TEST_KEY.verifierKey,
    rateLimiter: opts.rateLimit ? new RateLimiter(opts.rateLimit) : undefined,
    authFailures: opts.authFailureLimit
      ? new RateLimiter(opts.authFailureLimit, { perMs: 60_000 })
      : undefined,
    searchLimiter: opts.searchRateLimit
      ? new RateLimiter(opts.searchRateLimit, { perMs: 60_000 })
      : undefined,
    publicMetrics: opts.publicMetrics,
    ownEvents: new OwnEventWriter(db.sql, sequencer, ORIGIN, hasher),
    witnessKeys: opts.witnessKeys ?? [],
    witnessQuorum: opts.witnessQuorum ?? 0,
    denials: new Denials(metrics.denied, { alertUrl: opts.alertUrl, origin: ORIGIN, say: log }),
    say: log,
  };
  const app = createApp(ctx);
  return {
    db,
    ctx,
    app,
    req(path, init = {}) {
      const headers = new Headers(init.headers);
      const token = init.token === undefined ? ADMIN : init.token;
      if (token !== null) headers.set("Authorization", `Bearer ${token}`);
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
    async close() {
      await sequencer.close();
      await publisher.stop();
      await db.close();
    },
  };
}

/** A test log holding `n` events of one pane, covered by a signed checkpoint. */
export async function openFilledLog(n: number): Promise<TestLog> {
  const log = await openTestLog();
  const res = await log.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(makeBatch(n)),
  });
  if (res.status !== 200)
    throw new Error(`filling the test log: ${res.status} ${await res.text()}`);
  await log.ctx.publisher.waitFor(n, 10_000);
  return log;
}
