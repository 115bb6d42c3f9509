// Assembles a running log from its configuration: storage, keys, admin token, sequencer,
// checkpoint publisher and the HTTP API. `serve` and the end-to-end tests start it the same way.
//
// Start-up, in order:
//   1. open storage and apply migrations;
//   2. load (or create on first start) the signer key and the admin token;
//   3. check storage against the newest checkpoint (refuse to start on any disagreement) and that
//      the configured origin is the one the log has always signed;
//   4. publish: a new log signs its empty tree at once;
//   5. build the web UI if the install did not;
//   6. listen.

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseCheckpoint } from "../core/checkpoint.ts";
import { bytesEqual } from "../core/encoding.ts";
import {
  generateKey,
  parseSignerKey,
  parseVerifierKey,
  type Verifier,
  verifierKeyOf,
} from "../core/keys.ts";
import { BatchStore } from "../db/batch-store.ts";
import { checkpointRoot, latestCheckpoint } from "../db/checkpoints.ts";
import { connectPostgres, type Sql } from "../db/sql.ts";
import { openStorage } from "../db/storage.ts";
import { listen } from "../lib/listen.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { DEFAULTS, type LogConfig } from "../server/config.ts";
import { startRetention, startSweeper } from "../server/erase.ts";
import type { FaultHook } from "../server/fault-hook.ts";
import { OwnEventWriter } from "../server/own-event-writer.ts";
import { checkSignedBy, Publisher, verifyStorage } from "../server/publisher.ts";
import { Sequencer } from "../server/sequencer.ts";
import { parseWitnessSpec, WitnessPool } from "../server/witnesses.ts";
import { createApp } from "./app.ts";
import { Auth, newToken } from "./auth.ts";
import type { LogContext } from "./context.ts";
import { Denials } from "./denials.ts";
import { logMetrics } from "./metrics.ts";
import { RateLimiter } from "./rate-limit.ts";
import { warnIfUiMissing } from "./routes/ui.ts";

export interface RunningLogServer {
  ctx: LogContext;
  url: string;
  origin: string;
  verifierKey: string;
  adminTokenFile?: string;
  keyFile: string;
  storageKind: "postgres" | "pglite";
  close(): Promise<void>;
}

function loadOrCreateKey(cfg: LogConfig): { signerKey: string; file: string; created: boolean } {
  const file = cfg.keyFile ?? join(cfg.dataDir, "log.key");
  if (existsSync(file))
    return { signerKey: readFileSync(file, "utf8").trim(), file, created: false };
  if (cfg.keyFile)
    throw new Error(`key file ${cfg.keyFile} does not exist (create one with tmuxtrail keygen)`);
  const origin = cfg.origin ?? `tmuxtrail.local/${hostname()}`;
  const key = generateKey(origin, new Uint8Array(randomBytes(32)));
  mkdirSync(cfg.dataDir, { recursive: true });
  writeFileSync(file, `${key.signerKey}\n`, { mode: 0o600, flag: "wx" });
  return { signerKey: key.signerKey, file, created: true };
}

function loadOrCreateAdminToken(cfg: LogConfig): { token: string; file?: string } {
  if (cfg.adminToken) return { token: cfg.adminToken };
  const file = join(cfg.dataDir, "admin.token");
  if (existsSync(file)) return { token: readFileSync(file, "utf8").trim(), file };
  mkdirSync(cfg.dataDir, { recursive: true });
  const token = newToken();
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { token, file };
}

/**
 * The read database must hold this log (a replica of it, perhaps behind): its newest checkpoint
 * must carry this log's origin, be signed by this log's key, and have the root the primary signed
 * at that size. Size and root alone do not tell logs apart: every empty log has the same root. A
 * read database with no checkpoint is refused unless the primary has none either (a new log).
 */
export async function checkReadDatabase(
  primary: Sql,
  read: Sql,
  log: { origin: string; verifier: Verifier },
  warn: (msg: string) => void,
): Promise<void> {
  const refuse = (why: string) =>
    new Error(
      `${why}: --read-database-url must point at a replica of this log's database and schema`,
    );
  let cp: Awaited<ReturnType<typeof latestCheckpoint>>;
  try {
    cp = await latestCheckpoint(read);
  } catch (e) {
    warn(`warning: the read database does not answer yet: ${(e as Error).message}`);
    return;
  }
  if (!cp) {
    if (!(await latestCheckpoint(primary))) return;
    throw refuse("the read database holds no checkpoint but this log has signed one");
  }
  const origin = parseCheckpoint(cp.note.slice(0, cp.note.indexOf("\n\n") + 1)).origin;
  if (origin !== log.origin)
    throw refuse(`the read database holds the log "${origin}", not "${log.origin}"`);
  try {
    checkSignedBy(cp, log.verifier);
  } catch {
    throw refuse(
      `the read database's newest checkpoint (size ${cp.size}) is not signed by this log's key`,
    );
  }
  const signed = await checkpointRoot(primary, cp.size);
  if (!signed || !bytesEqual(signed, cp.root)) {
    throw refuse(
      `the read database's newest checkpoint (size ${cp.size}) is not one this log signed`,
    );
  }
}

export async function startLogServer(
  cfg: LogConfig,
  say: (msg: string) => void = console.error,
  /** Tests only: fault injection at the sequencer's and the publisher's durable steps. */
  hooks: { fault?: FaultHook } = {},
): Promise<RunningLogServer> {
  // 1. Storage.
  const storage = await openStorage({
    databaseUrl: cfg.databaseUrl,
    databaseSchema: cfg.databaseSchema,
    dataDir: cfg.dataDir,
    poolSize: cfg.poolSize,
    createApart: cfg.createEmbeddedApart,
    say, // the storage upgrade's progress, when a start converts a v1 database
  });
  const readSql = cfg.readDatabaseUrl
    ? connectPostgres(cfg.readDatabaseUrl, { max: cfg.poolSize, schema: cfg.databaseSchema })
    : storage.sql;
  try {
    // 2. Keys.
    const key = loadOrCreateKey(cfg);
    const signer = parseSignerKey(key.signerKey);
    const origin = cfg.origin ?? signer.name;
    const verifierKey = verifierKeyOf(key.signerKey);
    const admin = loadOrCreateAdminToken(cfg);
    // 3. Storage agrees with what was signed.
    const hasher = nodeHasher;
    await verifyStorage(storage.sql, hasher);
    const last = await latestCheckpoint(storage.sql);
    if (last) {
      const signedOrigin = parseCheckpoint(
        last.note.slice(0, last.note.indexOf("\n\n") + 1),
      ).origin;
      if (signedOrigin !== origin) {
        throw new Error(
          `this database holds the log "${signedOrigin}" but the configured origin is "${origin}" (use --origin "${signedOrigin}" or another database)`,
        );
      }
      checkSignedBy(last, parseVerifierKey(verifierKey));
    }
    if (readSql !== storage.sql)
      await checkReadDatabase(
        storage.sql,
        readSql,
        { origin, verifier: parseVerifierKey(verifierKey) },
        say,
      );
    const metrics = logMetrics();
    const sequencer = new Sequencer(storage.sql, {
      maxBatch: cfg.batchMax,
      lingerMs: cfg.batchLingerMs,
      hasher,
      onBatch: (b) => {
        metrics.batchSize.observe(b.leaves);
        metrics.integrationSeconds.observe(b.ms / 1000);
        metrics.treeSize.set(b.size);
      },
      fault: hooks.fault,
    });
    const pool = new WitnessPool(storage.sql, cfg.witnesses.map(parseWitnessSpec), {
      hasher,
      say,
      alarms: metrics.witnessAlarms,
      witnessSize: metrics.witnessSize,
      onCosigned: () => void publisher.notifyWaiters().catch(() => {}),
    });
    // How long committed leaves have waited for a checkpoint: ~0 on an idle log and when another
    // process signs; it grows only while nothing signs (a stuck or refusing publisher).
    let lastCovered = Date.now();
    metrics.checkpointAge.set(() => (Date.now() - lastCovered) / 1000);
    const publisher = new Publisher(storage.sql, {
      origin,
      signer,
      hasher,
      intervalMs: cfg.checkpointIntervalMs,
      witnessQuorum: cfg.witnessQuorum,
      // Not awaited: a slow witness never delays the next checkpoint.
      afterTick: async () =>
        void pool.catchUp().catch((e) => say(`witnesses: ${(e as Error).message}`)),
      onCovered: () => {
        lastCovered = Date.now();
      },
      onError: (e) => say(`checkpoint publisher: ${(e as Error).message}`),
      fault: hooks.fault,
    });
    // 4. A new log signs its empty tree at once.
    await publisher.publish();
    publisher.start();
    const authFailureLimit = cfg.authFailureLimit ?? DEFAULTS.authFailureLimit;
    const searchRateLimit = cfg.searchRateLimit ?? DEFAULTS.searchRateLimit;
    const ctx: LogContext = {
      sql: storage.sql,
      readSql,
      batches: new BatchStore(readSql),
      sequencer,
      publisher,
      auth: new Auth(storage.sql, admin.token),
      metrics,
      hasher,
      origin,
      verifierKey,
      rateLimiter: cfg.rateLimit > 0 ? new RateLimiter(cfg.rateLimit) : undefined,
      authFailures:
        authFailureLimit > 0
          ? new RateLimiter(authFailureLimit, {
              perMs: 60_000,
              what: "failed authentications from this address",
            })
          : undefined,
      searchLimiter:
        searchRateLimit > 0
          ? new RateLimiter(searchRateLimit, {
              perMs: 60_000,
              what: "session searches by command for this key",
            })
          : undefined,
      publicMetrics: cfg.publicMetrics ?? false,
      ownEvents: new OwnEventWriter(storage.sql, sequencer, origin, hasher),
      witnessKeys: pool.targets.map((t) => t.key.key),
      witnessQuorum: cfg.witnessQuorum,
      waitTimeoutMs: cfg.waitTimeoutMs,
      denials: new Denials(metrics.denied, { alertUrl: cfg.alertUrl, origin, say }),
      say,
    };
    const retention = cfg.retentionMs
      ? startRetention(storage.sql, ctx.ownEvents, cfg.retentionMs, say)
      : undefined;
    // Batches a crashed process staged and never integrated go without waiting for an erasure.
    const sweeper = startSweeper(storage.sql, say);
    // 5. The web UI is built at install (npm ci); say so when it is not.
    warnIfUiMissing(say);
    // 6. Listen.
    const app = createApp(ctx);
    const { server, url } = await listen(app.fetch, cfg.port, cfg.host).catch(async (e) => {
      // Nothing was accepted: stop what started, then the storage is closed below.
      await retention?.stop();
      await sweeper.stop();
      await sequencer.close();
      await publisher.stop();
      throw e;
    });
    let closing: Promise<void> | undefined;
    return {
      ctx,
      url,
      origin,
      verifierKey,
      adminTokenFile: admin.file,
      keyFile: key.file,
      storageKind: storage.kind,
      close() {
        closing ??= (async () => {
          // Stop taking connections, answer what was accepted, sign what was committed.
          const closed = new Promise<void>((r) => server.close(() => r()));
          await retention?.stop();
          await sweeper.stop();
          await sequencer.close();
          await publisher.publish().catch((e) => say(`final checkpoint: ${(e as Error).message}`));
          await publisher.stop();
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          await closed;
          if (readSql !== storage.sql) await readSql.close();
          await storage.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    if (readSql !== storage.sql) await readSql.close();
    await storage.close();
    throw e;
  }
}
