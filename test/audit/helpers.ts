// Building logs to audit: events in several streams, opaque leaves, erasure events of the log's
// own, and tampering as a database superuser could (triggers off for one transaction).

import { createHash } from "node:crypto";
import { expect } from "vitest";
import { auditDatabase } from "../../src/audit/db-audit.ts";
import type { AuditReport } from "../../src/audit/report.ts";
import { type EventMeta, parseSubmission } from "../../src/core/events.ts";
import { canonicalJsonBytes } from "../../src/core/jcs.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import {
  compress,
  decompress,
  frameContents,
  frameLeaves,
  type Payload,
  unframeContents,
  unframeLeaves,
} from "../../src/db/batch-codec.ts";
import { rewriteContents } from "../../src/db/batch-store.ts";
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

/** Where leaf `idx`'s bytes are. */
export async function placeOf(sql: Sql, idx: number): Promise<{ batch: number; slot: number }> {
  const [r] = await sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves WHERE idx = $1",
    [idx],
  );
  return r!;
}

/**
 * Removes leaf `idx`'s payload from its batch with no erasure event: the contents rewrite the
 * triggers allow (version raised), so any role that may UPDATE batches can do it.
 */
export async function deletePayload(sql: Sql, idx: number): Promise<void> {
  const { batch, slot } = await placeOf(sql, idx);
  await sql.begin((tx) => rewriteContents(tx, batch, [slot]));
}

/**
 * An UPDATE of leaf `idx`'s batch with `part` (leaves or contents) inflated, edited by `edit` and
 * compressed again, raising its version: for asSuperuser when the triggers refuse it.
 */
export async function editPart(
  sql: Sql,
  idx: number,
  part: "leaves" | "contents",
  edit: (slots: (Payload | Uint8Array | null)[], slot: number) => void,
): Promise<string> {
  const { batch, slot } = await placeOf(sql, idx);
  const [row] = await sql.query<{ codec: number; part: Uint8Array }>(
    `SELECT codec, ${part} AS part FROM batches WHERE id = $1`,
    [batch],
  );
  const raw = await decompress(row!.part, row!.codec);
  const slots = part === "leaves" ? unframeLeaves(raw) : unframeContents(raw);
  const copy = slots.map((v) =>
    v === null
      ? null
      : v instanceof Uint8Array
        ? v.slice()
        : { salt: v.salt.slice(), content: v.content.slice() },
  );
  edit(copy, slot);
  const framed =
    part === "leaves"
      ? frameLeaves(copy as Uint8Array[])
      : frameContents(copy as (Payload | null)[]);
  const stored = Buffer.from(await compress(framed, row!.codec)).toString("hex");
  return `UPDATE batches SET ${part} = '\\x${stored}', version = version + 1 WHERE id = ${batch}`;
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
