// The log's own events (docs/design.md §2.3): `access` (a read of session content) and `erasure`
// (payloads deleted) leaves, in the log's own streams: host = the origin, server "log", pane
// "access" or "erasure". They are gap-free like any agent's stream, so an auditor can prove that
// none was dropped.
//
// Positions: an append reads the stream's committed max(seq) and submits seq max+1, max+2, ...
// through the sequencer like any submission. Another process appending to the same stream at the
// same moment makes the whole submission a conflict (a position is filled once), and the append
// reads again and retries. A seq is therefore used only by a leaf that is in the tree: no gap, even
// if a process dies between reading and submitting. Within a process, appends to one stream run
// one at a time, and every record that arrives while one runs goes into the next (one submission,
// one leaf each), so a burst of reads costs a few sequencer batches, not one each.

import { type EventMeta, eventLeaf } from "../core/events.ts";
import type { Hasher } from "../core/hash.ts";
import { LOG_SERVER, LOG_SESSION } from "../core/own-events.ts";
import type { Sql } from "../db/sql.ts";
import { eventInput } from "./sequencer/input.ts";
import { ConflictError, type LeafInput, type Sequencer } from "./sequencer.ts";

export { LOG_SERVER, LOG_SESSION };

type LogPane = "access" | "erasure";

type Body = Pick<EventMeta, "access" | "erasure">;

interface Waiting {
  user: string;
  body: Body;
  resolve: (index: number) => void;
  reject: (e: unknown) => void;
}

const MAX_PER_APPEND = 500;
const MAX_RETRIES = 20;

export class OwnEventWriter {
  private readonly queues = new Map<LogPane, Waiting[]>();
  private readonly running = new Set<LogPane>();

  constructor(
    private readonly sql: Sql,
    private readonly sequencer: Sequencer,
    private readonly origin: string,
    private readonly hasher: Hasher,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records that key `key` read `what`; resolves with the access event's index once durable. */
  access(key: string, what: string): Promise<number> {
    return this.append("access", key, { access: { key, read: what.slice(0, 1024) } });
  }

  /** Records an erasure of the payloads of `ranges` (inclusive [first, last] index pairs). */
  erasure(key: string, reason: string, ranges: [number, number][]): Promise<number> {
    return this.append("erasure", key, { erasure: { indexes: ranges, key, reason } });
  }

  private append(pane: LogPane, user: string, body: Body): Promise<number> {
    return new Promise((resolve, reject) => {
      const q = this.queues.get(pane) ?? [];
      this.queues.set(pane, q);
      q.push({ user, body, resolve, reject });
      if (!this.running.has(pane)) void this.drain(pane);
    });
  }

  private async drain(pane: LogPane): Promise<void> {
    this.running.add(pane);
    const q = this.queues.get(pane)!;
    while (q.length > 0) {
      const group = q.splice(0, MAX_PER_APPEND);
      try {
        const indexes = await this.submit(pane, group);
        for (const [i, w] of group.entries()) w.resolve(indexes[i]!);
      } catch (e) {
        for (const w of group) w.reject(e);
      }
    }
    this.running.delete(pane);
  }

  private async submit(pane: LogPane, group: Waiting[]): Promise<number[]> {
    for (let attempt = 0; ; attempt++) {
      const rows = await this.sql.query<{ m: number | string | null }>(
        "SELECT max(seq) AS m FROM leaves WHERE host = $1 AND server = $2 AND pane = $3",
        [this.origin, LOG_SERVER, pane],
      );
      const next = rows[0]?.m === null || rows[0]?.m === undefined ? 0 : Number(rows[0].m) + 1;
      const time = this.now().toISOString();
      const leaves: LeafInput[] = group.map((w, i) => {
        const meta: EventMeta = {
          v: 1,
          host: this.origin,
          server: LOG_SERVER,
          session: LOG_SESSION,
          window: "-",
          pane,
          user: w.user,
          seq: next + i,
          time,
          type: pane,
          ...w.body,
        };
        return eventInput(meta, eventLeaf(meta), this.hasher);
      });
      try {
        return (await this.sequencer.submit(leaves)).map((r) => r.index);
      } catch (e) {
        // Another process took these positions first: read the stream again.
        if (!(e instanceof ConflictError) || attempt >= MAX_RETRIES) throw e;
      }
    }
  }
}

/** Sorted leaf indexes as inclusive [first, last] ranges. */
export function toRanges(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}
