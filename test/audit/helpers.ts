// Building logs to audit: events in several streams, opaque leaves, erasure events of the log's
// own, and tampering as a database superuser could (triggers off for one transaction).

import { createHash } from "node:crypto";
import { expect } from "vitest";
import { auditDatabase } from "../../src/audit/db-audit.ts";
import type { AuditReport } from "../../src/audit/report.ts";
import { type EventMeta, parseSubmission } from "../../src/core/events.ts";
import { canonicalJsonBytes } from "../../src/core/jcs.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import type { Sql } from "../../src/db/sql.ts";
import { eventInput, streamOf } from "../../src/server/sequencer/input.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, TEST_KEY, type TestLog } from "../support/log.ts";

export const LOG_KEY = parseVerifierKey(TEST_KEY.verifierKey);

export async function postEvents(log: TestLog, events: unknown[]): Promise<{ index: number }[]> {
  const res = await log.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(events),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { index: number }[];
}

export async function postRaw(log: TestLog, bytes: string): Promise<number> {
  const res = await log.req("/v1/leaves", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream" },
    body: bytes,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { index: number }).index;
}

/**
 * Fills `log` with `n` events spread over three panes, sent interleaved and each pane's batches
 * out of order, plus two opaque leaves; waits for a checkpoint over all of them.
 */
export async function fill(log: TestLog, n: number): Promise<number> {
  const per = Math.ceil(n / 3);
  const panes = ["%1", "%2", "%3"];
  const half = Math.floor(per / 2);
  for (const pane of panes) await postEvents(log, makeBatch(per - half, half, { pane }));
  await postRaw(log, "an opaque leaf");
  for (const pane of panes) await postEvents(log, makeBatch(half, 0, { pane }));
  await postRaw(log, "");
  const size = 3 * per + 2;
  await log.ctx.publisher.waitFor(size, 10_000);
  return size;
}

/** Appends the log's own erasure event naming `ranges`, as the log does before deleting. */
export async function appendErasure(log: TestLog, seq: number, ranges: [number, number][]) {
  const time = new Date().toISOString();
  const meta = {
    v: 1,
    host: ORIGIN,
    server: "log",
    session: "log",
    window: "-",
    pane: "erasure",
    user: "admin",
    seq,
    time,
    type: "erasure",
    erasure: { indexes: ranges, key: "admin", reason: "test" },
  };
  const leaf = canonicalJsonBytes(meta);
  const [r] = await log.ctx.sequencer.submit([
    {
      leaf,
      leafHash: new Uint8Array(
        createHash("sha256")
          .update(Buffer.from([0]))
          .update(leaf)
          .digest(),
      ),
      stream: streamOf(meta as EventMeta),
    },
  ]);
  return r!.index;
}

export async function deletePayload(sql: Sql, idx: number): Promise<void> {
  await sql.query(
    "DELETE FROM payloads WHERE leaf_hash = (SELECT leaf_hash FROM leaves WHERE idx = $1)",
    [idx],
  );
}

/** Runs `statements` with every trigger off, as a superuser could (PostgreSQL only). */
export async function asSuperuser(sql: Sql, statements: string[]): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    for (const s of statements) await tx.query(s);
  });
}

export function audit(log: TestLog, chunk?: number, readers?: number): Promise<AuditReport> {
  return auditDatabase(log.db.sql, { verifiers: [LOG_KEY], chunk, readers });
}

/**
 * Appends `n` events of one pane straight through the sequencer (no HTTP): for large logs.
 * Returns the size once a checkpoint covers them.
 */
export async function fillFast(log: TestLog, n: number, pane = "%9"): Promise<number> {
  const before = (await log.db.sql.query<{ size: number }>("SELECT size FROM log_state"))[0]!.size;
  for (let from = 0; from < n; from += 4000) {
    const batch = makeBatch(Math.min(4000, n - from), from, { pane }).map((e) => {
      const s = parseSubmission(e);
      return eventInput(
        s.meta,
        s.leaf,
        log.ctx.hasher,
        s.content && s.salt ? { salt: s.salt, content: s.content } : undefined,
      );
    });
    await log.ctx.sequencer.submit(batch);
  }
  await log.ctx.publisher.waitFor(before + n, 30_000);
  return before + n;
}
