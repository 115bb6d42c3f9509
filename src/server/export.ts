// Building a session bundle (src/core/session-bundle.ts) from storage: the session's events covered
// by the newest served checkpoint, their payloads and salts, the erasure events that explain every
// missing payload, one tlog-proof per event against that one checkpoint, a cast per pane, and the
// session's last index in the log (v2 `last`: the bundle's last event, or one after the checkpoint).
// Proofs read tiles through one cache per export, so a long session costs each tile once.

import { base64Encode } from "../core/encoding.ts";
import { type EventMeta, parseLeaf } from "../core/events.ts";
import type { Hasher } from "../core/hash.ts";
import { inclusionProof } from "../core/proof.ts";
import { BUNDLE_FORMAT, type BundleEvent, type SessionBundle } from "../core/session-bundle.ts";
import { buildCasts, type CastInput } from "../core/session-cast.ts";
import { type TileFetcher, tileNodeReader } from "../core/tile-reader.ts";
import { formatTlogProof } from "../core/tlog-proof.ts";
import type { BatchStore, SlotRef, StoredEvent } from "../db/batch-store.ts";
import type { Sql } from "../db/sql.ts";
import { LOG_SERVER } from "./own-event-writer.ts";
import { readTile } from "./tile-store.ts";
import { TileMissingError } from "./tree-reader.ts";

interface Row {
  idx: number | string;
  leaf: Uint8Array;
  salt: Uint8Array | null;
  content: Uint8Array | null;
}

export interface ExportInput {
  sql: Sql;
  /** Where the leaves and payloads `sql`'s leaves rows name are read (the process's one store). */
  batches: BatchStore;
  hasher: Hasher;
  origin: string;
  logKey: string;
  witnessKeys: string[];
  witnessQuorum: number;
  /** The served (cosigned) checkpoint the proofs are against. */
  checkpoint: { size: number; note: string };
  session: { id: string; host: string; server: string; session: string; user: string };
}

export async function exportSession(x: ExportInput): Promise<SessionBundle> {
  const { sql, hasher, checkpoint } = x;
  const cache = new Map<string, Promise<Uint8Array>>();
  const fetchTile: TileFetcher = (level, idx, width) => {
    const k = `${level}/${idx}/${width}`;
    let p = cache.get(k);
    if (!p) {
      p = readTile(sql, level, idx, width).then((t) => {
        if (!t) throw new TileMissingError(level, idx, width);
        return t;
      });
      cache.set(k, p);
    }
    return p;
  };
  const reader = tileNodeReader(checkpoint.size, fetchTile, hasher);
  const prove = async (index: number) =>
    formatTlogProof({
      index,
      proof: await inclusionProof(index, checkpoint.size, reader, hasher),
      checkpoint: checkpoint.note,
    });
  const toEvent = async (r: Row): Promise<BundleEvent> => ({
    index: Number(r.idx),
    // Not-fatal decoding: a leaf altered in storage is exported as it is, for verification to name.
    leaf: new TextDecoder().decode(r.leaf),
    payload:
      r.salt && r.content ? { salt: base64Encode(r.salt), content: base64Encode(r.content) } : null,
    proof: await prove(Number(r.idx)),
  });

  const s = x.session;
  const refs = await sql.query<SlotRef & { idx: number }>(
    `SELECT l.idx, l.batch, l.slot FROM leaves l
      WHERE l.session = $1 AND l.host = $2 AND l.server = $3 AND l.idx < $4
      ORDER BY l.idx`,
    [s.session, s.host, s.server, checkpoint.size],
  );
  // The pending count, and the session's last index the log knows of (the bundle's `last`).
  const pendingRows = await sql.query<{ n: number | string; last: number | string | null }>(
    `SELECT count(*) FILTER (WHERE idx >= $4) AS n, max(idx) AS last
       FROM leaves WHERE session = $1 AND host = $2 AND server = $3`,
    [s.session, s.host, s.server, checkpoint.size],
  );
  const events: BundleEvent[] = [];
  const metas = new Map<number, EventMeta>();
  const contents = new Map<number, Uint8Array>();
  // A page at a time: what is kept is the events' text and copies of their contents, not the
  // inflated batches the bytes were read from (a slot's bytes are a view into its whole batch).
  for (let at = 0; at < refs.length; at += PAGE) {
    const page = refs.slice(at, at + PAGE);
    const stored = await readEvents(x.batches, page);
    for (const [i, r] of page.entries()) {
      const { leaf, payload } = stored[i]!;
      events.push(
        await toEvent({
          idx: r.idx,
          leaf,
          salt: payload?.salt ?? null,
          content: payload?.content ?? null,
        }),
      );
      const meta = tryParseLeaf(leaf);
      if (meta) metas.set(r.idx, meta);
      if (payload) contents.set(r.idx, payload.content.slice());
    }
  }

  // The erasure events that name an erased payload of this session.
  const erased = events.filter((e) => e.payload === null && metas.get(e.index)?.payload);
  const found = await erasureEvents(
    sql,
    x.batches,
    x.origin,
    erased.map((e) => e.index),
    checkpoint.size,
  );
  const erasedBy = found.erasedBy;
  const erasures: BundleEvent[] = [];
  for (const r of found.events) erasures.push(await toEvent({ ...r, salt: null, content: null }));

  const castInput: CastInput[] = events
    .filter((e) => metas.has(e.index))
    .map((e) => ({
      meta: metas.get(e.index)!,
      content: contents.get(e.index) ?? null,
      erasedBy: erasedBy.get(e.index),
    }));
  return {
    format: BUNDLE_FORMAT,
    origin: x.origin,
    session: { id: s.id, host: s.host, server: s.server, session: s.session, user: s.user },
    keys: { log: x.logKey, witnesses: x.witnessKeys, quorum: x.witnessQuorum },
    checkpoint: checkpoint.note,
    events,
    erasures,
    casts: buildCasts(castInput),
    exported: new Date().toISOString(),
    pending: Number(pendingRows[0]?.n ?? 0),
    last: Number(pendingRows[0]?.last ?? events.at(-1)?.index ?? 0),
  };
}

/**
 * The log's own erasure events, in index order, that name the erased events `erased` (increasing
 * indexes), each counted for the first erasure after it that names it, and which erased which.
 */
export async function erasureEvents(
  sql: Sql,
  batches: BatchStore,
  origin: string,
  erased: readonly number[],
  size: number,
): Promise<{
  events: { idx: number; leaf: Uint8Array }[];
  erasedBy: Map<number, number>;
}> {
  const erasedBy = new Map<number, number>();
  const events: { idx: number; leaf: Uint8Array }[] = [];
  if (erased.length === 0) return { events, erasedBy };
  const refs = await sql.query<SlotRef & { idx: number }>(
    `SELECT l.idx, l.batch, l.slot FROM leaves l
      WHERE l.host = $1 AND l.server = $2 AND l.pane = 'erasure' AND l.idx > $3 AND l.idx < $4
      ORDER BY l.idx`,
    [origin, LOG_SERVER, erased[0]!, size],
  );
  // A page of leaves at a time: the erasures found early usually name them all.
  for (let at = 0; at < refs.length && erasedBy.size < erased.length; at += ERASURE_PAGE) {
    const page = refs.slice(at, at + ERASURE_PAGE);
    const leaves = await readEvents(batches, page, false);
    for (const [i, r] of page.entries()) {
      const leaf = leaves[i]!.leaf;
      const ranges = tryParseLeaf(leaf)?.erasure?.indexes ?? [];
      let named = false;
      for (const e of erased) {
        if (erasedBy.has(e) || e >= r.idx) continue;
        if (ranges.some(([a, b]) => a <= e && e <= b)) {
          erasedBy.set(e, r.idx);
          named = true;
        }
      }
      if (named) events.push({ idx: r.idx, leaf: leaf.slice() });
      if (erasedBy.size === erased.length) break;
    }
  }
  return { events, erasedBy };
}

const ERASURE_PAGE = 256;

/** Session events read per BatchStore read. */
const PAGE = 2000;

/** Distinct batches inflated by one BatchStore read: 16 of 4,000 events of terminal text ~80 MB. */
const BATCHES_PER_READ = 16;

/**
 * `batches.events(refs, withContent)`, read a run of refs at a time so that no read inflates more
 * than BATCHES_PER_READ batches at once: a session's events, interleaved with other sessions',
 * may each lie in a different batch.
 */
export async function readEvents(
  batches: BatchStore,
  refs: readonly SlotRef[],
  withContent = true,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let start = 0;
  while (start < refs.length) {
    const seen = new Set<number>();
    let end = start;
    while (end < refs.length) {
      const b = refs[end]!.batch;
      if (!seen.has(b) && seen.size === BATCHES_PER_READ) break;
      seen.add(b);
      end++;
    }
    const got = await batches.events(refs.slice(start, end), withContent);
    for (const e of got) out.push(e);
    start = end;
  }
  return out;
}

/** The event of a stored leaf, or undefined when storage holds something else (tampering). */
export function tryParseLeaf(leaf: Uint8Array): EventMeta | undefined {
  try {
    return parseLeaf(leaf);
  } catch {
    return undefined;
  }
}
