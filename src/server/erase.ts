// Erasure (GDPR, retention rules): the payloads (content + salt) of events are deleted, nothing
// else. The leaves stay, so every proof still verifies; what is gone is named by an `erasure` event
// in the log's own stream (which indexes, which key asked, why), so `audit` can tell an erasure
// from a deletion by a tamperer.
//
// Order, per chunk of at most CHUNK leaves whose batch slot still holds a payload: first the
// erasure event is durably in the tree, then the payloads go. A crash between the two leaves
// payloads that an erasure event names but that still exist: harmless (audit checks them like any
// other), and the next run erases them with a new event. The other order could leave a payload
// missing with no event: tampering, to audit. One transaction records the erased leaf hashes
// (erased_leaves), deletes their command_payloads rows and rewrites each batch holding them without
// their slots (rewriteContents raises the batch's version, so other processes' caches drop it).
// No content is stored for them again: a resubmitted event is a duplicate with its original index,
// and the sequencer empties its new slot (docs/design.md §4.4, §4.5).
//
// Whether a slot still holds a payload is inside the compressed contents part, not in SQL: the
// candidates are read in index order and checked through a BatchStore, so the erased count and
// the event's indexes are exactly the payloads removed.

import { BatchStore, rewriteContents } from "../db/batch-store.ts";
import type { Sql } from "../db/sql.ts";
import { readEvents } from "./export.ts";
import type { OwnEventWriter } from "./own-event-writer.ts";
import { toRanges } from "./own-event-writer.ts";

/** Payloads per erasure event: 2,000 indexes as ranges stay well below the 64 KiB leaf limit. */
const CHUNK = 2000;
/** Candidate leaves read per query: most of a scope's leaves may hold no payload. */
const SCAN = 8000;

export type EraseScope =
  | { session: { host: string; server: string; session: string } }
  | { before: string };

export interface EraseResult {
  /** Payloads deleted. */
  erased: number;
  /** Indexes of the erasure events appended. */
  events: number[];
}

interface Held {
  idx: number;
  batch: number;
  slot: number;
}

export async function erase(
  sql: Sql,
  ownEvents: OwnEventWriter,
  scope: EraseScope,
  key: string,
  reason: string,
): Promise<EraseResult> {
  const [where, params] =
    "session" in scope
      ? [
          "l.host = $1 AND l.server = $2 AND l.session = $3",
          [scope.session.host, scope.session.server, scope.session.session],
        ]
      : ["l.time < $1", [scope.before]];
  const result: EraseResult = { erased: 0, events: [] };
  await sweepAbandoned(sql);
  if ("before" in scope) {
    // Command content staged for submissions that never entered the tree (they conflicted): no
    // leaf commits to it, so it goes without an erasure event.
    await sql.query(
      `DELETE FROM command_payloads c
        WHERE c.staged_at < $1
          AND NOT EXISTS (SELECT 1 FROM leaves l WHERE l.leaf_hash = c.leaf_hash)`,
      [scope.before],
    );
  }
  // Small caches: the scan reads each batch once, in index order.
  const store = new BatchStore(sql, { leavesBytes: 1 << 20, contentsBytes: 8 << 20 });
  let after = -1;
  let pending: Held[] = [];
  const flush = async (chunk: Held[]) => {
    const indexes = chunk.map((h) => h.idx);
    result.events.push(await ownEvents.erasure(key, reason, toRanges(indexes)));
    const slots = new Map<number, number[]>();
    for (const h of chunk) {
      const s = slots.get(h.batch);
      if (s) s.push(h.slot);
      else slots.set(h.batch, [h.slot]);
    }
    // Erasure is permanent: the hashes are kept in the transaction that removes the payloads, and
    // a trigger deletes any command_payloads row inserted for them later
    // (drizzle/0003_erased_leaves.sql, 0006_batch_rules.sql).
    const removed = await sql.begin(async (tx) => {
      await tx.query(
        `INSERT INTO erased_leaves (leaf_hash)
         SELECT leaf_hash FROM leaves WHERE idx = ANY($1::int8[]) ON CONFLICT DO NOTHING`,
        [indexes],
      );
      await tx.query(
        `DELETE FROM command_payloads
          WHERE leaf_hash IN (SELECT leaf_hash FROM leaves WHERE idx = ANY($1::int8[]))`,
        [indexes],
      );
      // What this transaction removed: another process erasing the same leaves at once may have
      // removed some first (both events name them; harmless, as after a crash).
      let removed = 0;
      for (const [batch, s] of slots) removed += await rewriteContents(tx, batch, s);
      return removed;
    });
    for (const batch of slots.keys()) store.forgetContents(batch);
    result.erased += removed;
  };
  for (;;) {
    const rows = await sql.query<{
      idx: number | string;
      batch: number | string | null;
      slot: number | null;
    }>(
      `SELECT l.idx, l.batch, l.slot FROM leaves l
        WHERE ${where} AND l.idx > $${params.length + 1} ORDER BY l.idx LIMIT ${SCAN}`,
      [...params, after],
    );
    if (rows.length === 0) break;
    after = Number(rows[rows.length - 1]!.idx);
    // A leaf without a place (a v1 leaf before the upgrade) holds nothing erasure can reach.
    const refs = rows.flatMap((r) =>
      r.batch === null || r.slot === null
        ? []
        : [{ idx: Number(r.idx), batch: Number(r.batch), slot: r.slot }],
    );
    // A few batches at a time: a session's events may each lie in a different batch.
    const events = await readEvents(store, refs);
    for (let i = 0; i < refs.length; i++) {
      if (events[i]!.payload === null) continue;
      pending.push(refs[i]!);
      if (pending.length === CHUNK) {
        await flush(pending);
        pending = [];
      }
    }
  }
  if (pending.length > 0) await flush(pending);
  return result;
}

/**
 * Deletes batches staged by a process that died before integrating them (ten minutes is far beyond
 * any integration; one that took longer is refused, not acknowledged: tree-sql.ts markIntegrated).
 * No leaf points into them, and their content would otherwise outlive any erasure; the trigger
 * allows deleting only these. Returns how many went.
 */
export async function sweepAbandoned(sql: Sql): Promise<number> {
  const rows = await sql.query(
    "DELETE FROM batches WHERE NOT integrated AND staged_at < now() - interval '10 minutes' RETURNING id",
  );
  return rows.length;
}

/**
 * Runs `job` after `firstMs` and then every `everyMs` (timers that do not keep the process up),
 * one run at a time as the timers fire; `stop` clears them and waits for a run under way.
 */
function repeat(
  job: () => Promise<void>,
  firstMs: number,
  everyMs: number,
): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = job();
  };
  const first = setTimeout(tick, firstMs);
  const timer = setInterval(tick, everyMs);
  first.unref?.();
  timer.unref?.();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}

/** Runs sweepAbandoned a minute after start and then every ten minutes, until stopped. */
export function startSweeper(
  sql: Sql,
  say: (msg: string) => void,
  everyMs = 600_000,
): { stop(): Promise<void> } {
  return repeat(
    () =>
      sweepAbandoned(sql).then(
        (n) => {
          if (n > 0) say(`storage: deleted ${n} batches staged but never integrated`);
        },
        (e) => say(`storage sweep: ${(e as Error).message}`),
      ),
    60_000,
    everyMs,
  );
}

/** Runs `erase --before now-retention` now and then every `everyMs` until stopped. */
export function startRetention(
  sql: Sql,
  ownEvents: OwnEventWriter,
  retentionMs: number,
  say: (msg: string) => void,
  everyMs = 3_600_000,
): { stop(): Promise<void> } {
  const days = retentionMs / 86_400_000;
  const label = Number.isInteger(days) ? `${days}d` : `${retentionMs}ms`;
  return repeat(
    async () => {
      const before = new Date(Date.now() - retentionMs).toISOString();
      try {
        const r = await erase(sql, ownEvents, { before }, "retention", `retention policy ${label}`);
        if (r.erased > 0) {
          say(
            `retention: erased ${r.erased} payloads older than ${before} (events ${r.events.join(", ")})`,
          );
        }
      } catch (e) {
        say(`retention: ${(e as Error).message}`);
      }
    },
    1000,
    everyMs,
  );
}
