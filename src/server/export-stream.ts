// Writing a session bundle v3 (src/core/session-bundle.ts, docs/design.md §2.10) as it reads: the
// session's events are read a page at a time in index order and written at once, each with the
// hashes of the gap before it (core/multi-proof.ts), so the export's memory does not grow with the
// session (only the indexes of erased events, and the casts when asked for, are kept). Gap hashes
// come from the stored tiles through a cache of the stream's own of the tiles it is in, with their
// inner hashes (tree-reader.ts walkCache: 64 tiles, 1 MB), so they are read, not rehashed, and a
// long export neither grows with the session nor evicts the proofs' shared cache.
//
// A time window keeps the events whose time lies in [since, until); the bundle says which window
// it is, so a verifier checks each event's time against it and each pane's sequence numbers for
// contiguity inside it. The erasure events that explain the window's erased payloads form a
// second list with its own gaps. The output is one JSON document, written in pieces.

import type { Hasher } from "../core/hash.ts";
import { gapRanges, type Range } from "../core/multi-proof.ts";
import { groupedRangeHashes } from "../core/proof.ts";
import { BUNDLE_FORMAT_V3 } from "../core/session-bundle.ts";
import { buildCasts, type CastInput } from "../core/session-cast.ts";
import { inWindow } from "../core/time-window.ts";
import type { SlotRef } from "../db/batch-store.ts";
import type { Sql } from "../db/sql.ts";
import { type ExportInput, erasureEvents, readEvents, tryParseLeaf } from "./export.ts";
import { dbNodeReader, walkCache } from "./tree-reader.ts";

/** Events read and written per query. */
const PAGE = 2000;

export interface StreamExportInput extends ExportInput {
  /** RFC 3339 UTC times; either may be left open. */
  window?: { since?: string; until?: string };
  /** Write the casts too (the verifier regenerates them; the default leaves them out). */
  casts?: boolean;
}

interface Row {
  idx: number | string;
  leaf: Uint8Array;
  salt: Uint8Array | null;
  content: Uint8Array | null;
  erased: boolean;
}

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");

/** The bundle as pieces of one JSON document, in order. */
export async function* exportSessionStream(x: StreamExportInput): AsyncGenerator<string> {
  const { sql, hasher, checkpoint } = x;
  const size = checkpoint.size;
  const s = x.session;
  const since = x.window?.since;
  const until = x.window?.until;
  const gaps = new Gaps(sql, size, hasher);

  // The session's last index and what lies beyond the checkpoint: over the whole session, not the
  // window (a window's bundle says how far the session went).
  const [tail] = await sql.query<{ n: number | string; last: number | string | null }>(
    `SELECT count(*) FILTER (WHERE idx >= $4) AS n, max(idx) AS last
       FROM leaves WHERE session = $1 AND host = $2 AND server = $3`,
    [s.session, s.host, s.server, size],
  );
  const header = {
    format: BUNDLE_FORMAT_V3,
    origin: x.origin,
    session: { id: s.id, host: s.host, server: s.server, session: s.session, user: s.user },
    keys: { log: x.logKey, witnesses: x.witnessKeys, quorum: x.witnessQuorum },
    checkpoint: checkpoint.note,
    ...(since !== undefined || until !== undefined
      ? { window: { ...(since !== undefined && { since }), ...(until !== undefined && { until }) } }
      : {}),
    exported: new Date().toISOString(),
    pending: Number(tail?.n ?? 0),
    last: Number(tail?.last ?? 0),
  };
  yield `${JSON.stringify(header).slice(0, -1)},"events":[`;

  const erased: number[] = [];
  const casts: { index: number; input: CastInput }[] | undefined = x.casts ? [] : undefined;
  let after = -1;
  let first = true;
  // The database keeps microseconds: it selects with a millisecond's margin, and the window is
  // then applied to each event's own time exactly as verifiers apply it (core/time-window.ts).
  const margin = (t: string, ms: number) => new Date(Date.parse(t) + ms).toISOString();
  const window = x.window ?? {};
  // A window's first and last index, from leaves_session_time: the pages then walk only them,
  // not the session's events before the window (a late hour of a long session) or after it.
  let end = size;
  if (since !== undefined || until !== undefined) {
    const params: unknown[] = [s.session, s.host, s.server];
    let time = "";
    if (since !== undefined) time += ` AND time >= $${params.push(margin(since, -1))}`;
    if (until !== undefined) time += ` AND time < $${params.push(margin(until, 1))}`;
    const [b] = await sql.query<{ lo: number | string | null; hi: number | string | null }>(
      // `idx + 0`: plain min(idx) is planned as a walk of the primary key from 0 (233 ms to a late
      // hour of a 1,000,000-event session) instead of this index's range (19 ms).
      `SELECT min(idx + 0) AS lo, max(idx + 0) AS hi FROM leaves
        WHERE session = $1 AND host = $2 AND server = $3${time}`,
      params,
    );
    // Rows outside [lo, hi] fail the pages' own time condition: the bundle is the same.
    if (b?.lo != null) {
      after = Number(b.lo) - 1;
      end = Math.min(size, Number(b.hi) + 1);
    } else end = 0;
  }
  for (;;) {
    const params: unknown[] = [s.session, s.host, s.server, after, end];
    let time = "";
    if (since !== undefined) time += ` AND l.time >= $${params.push(margin(since, -1))}`;
    if (until !== undefined) time += ` AND l.time < $${params.push(margin(until, 1))}`;
    const refs = await sql.query<SlotRef & { idx: number; erased: boolean }>(
      `SELECT l.idx, l.batch, l.slot, (x.leaf_hash IS NOT NULL) AS erased
         FROM leaves l LEFT JOIN erased_leaves x ON x.leaf_hash = l.leaf_hash
        WHERE l.session = $1 AND l.host = $2 AND l.server = $3 AND l.idx > $4 AND l.idx < $5${time}
        ORDER BY l.idx LIMIT ${PAGE}`,
      params,
    );
    if (refs.length === 0) break;
    after = Number(refs[refs.length - 1]!.idx);
    // This page's bytes only: nothing read is kept past its page but erased indexes and casts.
    const stored = await readEvents(x.batches, refs);
    const read: Row[] = refs.map((r, i) => ({
      idx: r.idx,
      leaf: stored[i]!.leaf,
      salt: stored[i]!.payload?.salt ?? null,
      content: stored[i]!.payload?.content ?? null,
      erased: r.erased,
    }));
    // A leaf that names no time (altered in storage) is kept, for verification to name.
    const rows = time
      ? read.filter((r) => {
          const t = leafTime(r.leaf);
          return t === undefined || inWindow(t, window);
        })
      : read;
    const hashes = rows.length ? await gaps.page(rows.map((r) => Number(r.idx))) : [];
    let out = "";
    rows.forEach((r, i) => {
      const idx = Number(r.idx);
      if (!r.content && r.erased) erased.push(idx);
      out += `${first ? "" : ","}${eventJson(r, hashes[i]!)}`;
      first = false;
      const meta = casts && tryParseLeaf(r.leaf);
      // A copy: the slot's bytes are a view into its whole inflated batch.
      const content = r.salt && r.content ? r.content.slice() : null;
      if (meta) casts!.push({ index: idx, input: { meta, content } });
    });
    if (out) yield out;
    if (read.length < PAGE) break;
  }
  const eventsEnd = await gaps.end();

  // The erasure events that name an erased payload of the window, in index order, proven by a
  // second multi-leaf proof against the same checkpoint.
  yield '],"erasures":[';
  const erasures = new Gaps(sql, size, hasher);
  const { events: used, erasedBy } = await erasureEvents(sql, x.batches, x.origin, erased, size);
  if (used.length > 0) {
    const hashes = await erasures.page(used.map((r) => Number(r.idx)));
    const none = { salt: null, content: null, erased: false };
    yield used.map((r, i) => eventJson({ ...r, ...none }, hashes[i]!)).join(",");
  }
  const erasuresEnd = await erasures.end();
  let trailer = `],"end":${JSON.stringify({ events: eventsEnd, erasures: erasuresEnd })}`;
  if (casts) {
    const input = casts.map((c) => ({ ...c.input, erasedBy: erasedBy.get(c.index) }));
    trailer += `,"casts":${JSON.stringify(buildCasts(input))}`;
  }
  yield `${trailer}}`;
}

function eventJson(r: Row, gap: string[]): string {
  const payload =
    r.salt && r.content ? `{"salt":"${b64(r.salt)}","content":"${b64(r.content)}"}` : "null";
  // Not-fatal decoding: a leaf altered in storage is exported as it is, for verification to name.
  const leaf = JSON.stringify(new TextDecoder().decode(r.leaf));
  return `{"index":${Number(r.idx)},"leaf":${leaf},"payload":${payload},"gap":${JSON.stringify(gap)}}`;
}

/** The gaps of one list of proven indexes, a page at a time, then the gap after its last index. */
class Gaps {
  private prev = -1;
  /** The tiles this stream is in: bounded, whatever the session's length (tree-reader.ts). */
  private readonly tiles = walkCache();
  constructor(
    private readonly sql: Sql,
    private readonly size: number,
    private readonly hasher: Hasher,
  ) {}

  private async hashes(ranges: Range[][]): Promise<string[][]> {
    const read = dbNodeReader(this.sql, this.size, this.hasher, this.tiles);
    return (await groupedRangeHashes(ranges, read, this.hasher)).map((g) => g.map(b64));
  }

  /** For each index (increasing, after the previous page's), the base64 hashes of its gap. */
  page(indexes: number[]): Promise<string[][]> {
    const ranges = indexes.map((i) => {
      const g = gapRanges(this.prev + 1, i, this.size);
      this.prev = i;
      return g;
    });
    return this.hashes(ranges);
  }

  /** The gap after the last index (the whole tree when there was none: then nothing to prove). */
  async end(): Promise<string[]> {
    if (this.prev < 0) return [];
    return (await this.hashes([gapRanges(this.prev + 1, this.size, this.size)]))[0]!;
  }
}

/** The `time` a stored leaf names; undefined for one that is not an event's JSON (tampering). */
function leafTime(leaf: Uint8Array): string | undefined {
  try {
    const t = (JSON.parse(new TextDecoder().decode(leaf)) as { time?: unknown }).time;
    return typeof t === "string" ? t : undefined;
  } catch {
    return undefined;
  }
}
