// Reading the fields an audit needs from a stored leaf, fast. The audit first proves the leaf bytes
// are the ones hashed into the tree (SHA-256(0x00 || leaf) equals the tree's leaf hash); after that
// it only needs the stream position, the indexed columns, the payload commitment and erasure
// ranges, not a full schema validation (src/core/events.ts parseLeaf costs ~10x more per leaf).
// Anything that is not a v1 event object with these fields is an opaque leaf (POST /v1/leaves).

import type { Finding } from "./findings.ts";

export interface LeafEvent {
  host: string;
  server: string;
  pane: string;
  seq: number;
  session: string;
  type: string;
  user: string;
  time: string;
  payload?: { size: number; sha256: string };
  /** For erasure events: inclusive ranges of leaf indexes whose payloads were deleted. */
  erasure?: { indexes: [number, number][] };
}

const STRINGS = ["host", "server", "pane", "session", "type", "user", "time"] as const;

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** The event fields of `bytes`, or undefined when the leaf is not a v1 event. */
export function readLeafEvent(bytes: Uint8Array): LeafEvent | undefined {
  // An event leaf is a JSON object: anything else is opaque without a JSON.parse that throws (an
  // exception per opaque leaf was most of the audit's CPU on a log of opaque leaves).
  if (bytes[0] !== 0x7b || bytes[bytes.length - 1] !== 0x7d) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v) || v.v !== 1) return undefined;
  for (const k of STRINGS) if (typeof v[k] !== "string") return undefined;
  if (!isCount(v.seq)) return undefined;
  const p = v.payload as Record<string, unknown> | undefined;
  if (
    p !== undefined &&
    (typeof p !== "object" || p === null || !isCount(p.size) || typeof p.sha256 !== "string")
  ) {
    return undefined;
  }
  const e = v.erasure as { indexes?: unknown } | null | undefined;
  if (e !== undefined && !validRanges(e?.indexes)) return undefined;
  return v as unknown as LeafEvent;
}

function validRanges(x: unknown): x is [number, number][] {
  return (
    Array.isArray(x) &&
    x.every(
      (r) => Array.isArray(r) && r.length === 2 && isCount(r[0]) && isCount(r[1]) && r[0] <= r[1],
    )
  );
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/** Microseconds since the epoch of an RFC 3339 UTC time (PostgreSQL's timestamptz resolution). */
export function timeMicros(s: string): number | undefined {
  const m = RFC3339_UTC.exec(s);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const frac = m[7] ?? "";
  // Rounded to whole microseconds, as PostgreSQL stores it (a tie may round either way: ±1 µs).
  const us =
    frac.length <= 6
      ? Number(frac.padEnd(6, "0"))
      : Math.round(Number(`${frac.slice(0, 6)}.${frac.slice(6)}`));
  return ms * 1000 + us;
}

/** The leaves-table columns of an event leaf, as the sequencer wrote them. */
export interface LeafColumns {
  host: string | null;
  server: string | null;
  pane: string | null;
  seq: number | null;
  session: string | null;
  type: string | null;
  user: string | null;
  /** leaves.time in microseconds since the epoch. */
  time_us: number | null;
}

/** The first column that disagrees with the leaf, as a message; undefined when all agree. */
export function columnMismatch(cols: LeafColumns, ev: LeafEvent): string | undefined {
  for (const k of ["host", "server", "pane", "seq", "session", "type", "user"] as const) {
    if (cols[k] !== ev[k]) {
      return `column ${k} is ${JSON.stringify(cols[k])} but the leaf says ${JSON.stringify(ev[k])}`;
    }
  }
  const t = timeMicros(ev.time);
  if (t === undefined || cols.time_us === null || Math.abs(cols.time_us - t) > 1) {
    return `column time does not match the leaf's ${JSON.stringify(ev.time)}`;
  }
  return undefined;
}

/** The finding for an erasure or access event outside the log's own stream (own-events.ts). */
export function notTheLogsOwn(index: number, ev: LeafEvent): Finding {
  return {
    kind: "leaf",
    index,
    message: `leaf ${index}: an ${ev.type} event not made by the log itself (host ${JSON.stringify(ev.host)}, server ${JSON.stringify(ev.server)}, pane ${JSON.stringify(ev.pane)}): not honoured`,
  };
}

/** The finding for an opaque leaf that reads as an event (own-events.ts, rule 2). */
export function readsAsEventFinding(index: number): Finding {
  return {
    kind: "leaf",
    index,
    message: `leaf ${index} reads as a tmux event but is not one the log sequenced as an event (POST /v1/leaves refuses such leaves): a reader could take it for an event`,
  };
}
