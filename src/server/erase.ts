// Erasure (GDPR, retention rules): the payloads (content + salt) of events are deleted, nothing
// else. The leaves stay, so every proof still verifies; what is gone is named by an `erasure` event
// in the log's own stream (which indexes, which key asked, why), so `audit` can tell an erasure
// from a deletion by a tamperer.
//
// Order, per chunk of at most CHUNK payloads: first the erasure event is durably in the tree, then
// the payloads are deleted. A crash between the two leaves payloads that an erasure event names but
// that still exist: harmless (audit checks them like any other), and the next run erases them with
// a new event. The other order could leave a payload missing with no event: tampering, to audit.
// The erased leaf hashes are recorded with the deletion (erased_leaves), and no content is ever
// stored for them again: a resubmitted event is a duplicate with its original index and no payload.

import type { Sql } from "../db/sql.ts";
import type { OwnEventWriter } from "./own-event-writer.ts";
import { toRanges } from "./own-event-writer.ts";

/** Payloads per erasure event: 2,000 indexes as ranges stay well below the 64 KiB leaf limit. */
const CHUNK = 2000;

export type EraseScope =
  | { session: { host: string; server: string; session: string } }
  | { before: string };

export interface EraseResult {
  /** Payloads deleted. */
  erased: number;
  /** Indexes of the erasure events appended. */
  events: number[];
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
  if ("before" in scope) {
    // Content staged for submissions that never entered the tree (they conflicted): no leaf
    // commits to it, so it goes without an erasure event.
    await sql.query(
      `DELETE FROM payloads p USING entries e
        WHERE e.leaf_hash = p.leaf_hash AND e.received_at < $1
          AND NOT EXISTS (SELECT 1 FROM leaves l WHERE l.leaf_hash = p.leaf_hash)`,
      [scope.before],
    );
  }
  let after = -1;
  for (;;) {
    const rows = await sql.query<{ idx: number | string }>(
      `SELECT l.idx FROM leaves l JOIN payloads p ON p.leaf_hash = l.leaf_hash
        WHERE ${where} AND l.idx > $${params.length + 1} ORDER BY l.idx LIMIT ${CHUNK}`,
      [...params, after],
    );
    if (rows.length === 0) return result;
    const indexes = rows.map((r) => Number(r.idx));
    result.events.push(await ownEvents.erasure(key, reason, toRanges(indexes)));
    // Erasure is permanent: the hashes are kept in the transaction that deletes the payloads, and
    // a trigger deletes any payload inserted for them later (drizzle/0003_erased_leaves.sql).
    await sql.begin(async (tx) => {
      await tx.query(
        `INSERT INTO erased_leaves (leaf_hash)
         SELECT leaf_hash FROM leaves WHERE idx = ANY($1::int8[]) ON CONFLICT DO NOTHING`,
        [indexes],
      );
      await tx.query(
        "DELETE FROM payloads WHERE leaf_hash IN (SELECT leaf_hash FROM leaves WHERE idx = ANY($1::int8[]))",
        [indexes],
      );
    });
    result.erased += rows.length;
    after = indexes[indexes.length - 1]!;
  }
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
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
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
    })();
  };
  const first = setTimeout(tick, 1000);
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
