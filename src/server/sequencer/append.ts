// Step 3's arithmetic (no I/O): appending leaves to the tree as it stands. Each leaf gets the next
// index; the compact range (RFC 6962 right edge) gives the new root and edge, and the nodes it
// completes at tree levels 0, 8, 16, … are the hash tile updates (tile-store.ts). Sessions are
// summarised per session id for one upsert each.
//
// Example: appending 3 leaves to a tree of size 254 gives them indexes 254, 255, 256; tile level 0
// gains nodes 254, 255 (tile 0) and 256 (tile 1), and tile level 1 gains node 0, the root of
// leaves 0…255, completed by leaf 255.

import { CompactRange } from "../../core/compact.ts";
import type { Hash, Hasher } from "../../core/hash.ts";
import type { TileUpdate } from "../tile-store.ts";
import type { Claim } from "./classify.ts";
import type { StreamInfo } from "./input.ts";

/** The tree's size and right edge (compact range of [0, size)). */
export interface TreeEdge {
  size: number;
  edge: Hash[];
}

/** One row of the sessions table's upsert. */
export interface SessionRow {
  id: string;
  s: StreamInfo;
  first: number;
  last: number;
  events: number;
  t0: string;
  t1: string;
}

export interface Append {
  /** The tree appended to; its size is the first new leaf's index. */
  from: TreeEdge;
  leaves: Claim[];
  /** The tree after. */
  to: TreeEdge;
  root: Hash;
  tiles: TileUpdate[];
  /** The events among `leaves`, with their indexes. */
  streams: { s: StreamInfo; idx: number }[];
  sessions: SessionRow[];
}

export function appendTo(from: TreeEdge, leaves: Claim[], hasher: Hasher): Append {
  const range = CompactRange.fromRightEdge(from.size, from.edge, hasher);
  const tiles: TileUpdate[] = [];
  const streams: { s: StreamInfo; idx: number }[] = [];
  for (const [i, c] of leaves.entries()) {
    range.append(c.input.leafHash, (id, hash) => {
      if (id.level % 8 === 0) tiles.push({ level: id.level / 8, index: id.index, hash });
    });
    if (c.input.stream) streams.push({ s: c.input.stream, idx: from.size + i });
  }
  return {
    from,
    leaves,
    to: { size: range.size, edge: range.rightEdge() },
    root: range.root(),
    tiles,
    streams,
    sessions: sessionRows(streams),
  };
}

/** Per session (events of session "-" belong to none): first and last index and time, count. */
export function sessionRows(streams: { s: StreamInfo; idx: number }[]): SessionRow[] {
  const by = new Map<string, SessionRow>();
  for (const { s, idx } of streams) {
    if (s.session === "-") continue;
    const cur = by.get(s.sessionId);
    if (!cur) {
      by.set(s.sessionId, {
        id: s.sessionId,
        s,
        first: idx,
        last: idx,
        events: 1,
        t0: s.time,
        t1: s.time,
      });
      continue;
    }
    cur.last = idx;
    cur.events++;
    if (s.time < cur.t0) cur.t0 = s.time;
    if (s.time > cur.t1) cur.t1 = s.time;
  }
  return [...by.values()];
}
