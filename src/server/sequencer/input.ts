// What the sequencer takes and gives back: a leaf with its hash (and, for an event, the stream
// columns indexed by position and its payload), the answer for each leaf, and the conflict that
// rejects a submission. No I/O here.

import type { EventMeta } from "../../core/events.ts";
import type { Hash, Hasher } from "../../core/hash.ts";
import { sessionId } from "../../core/session-id.ts";

/** The stream columns of an event leaf; raw leaves have none. */
export interface StreamInfo {
  host: string;
  server: string;
  pane: string;
  seq: number;
  session: string;
  sessionId: string;
  type: string;
  user: string;
  /** RFC 3339 UTC time of the event. */
  time: string;
}

export interface LeafInput {
  leaf: Uint8Array;
  leafHash: Hash;
  stream?: StreamInfo;
  payload?: { salt: Uint8Array; content: Uint8Array };
}

export interface LeafResult {
  index: number;
  leafHash: Hash;
  duplicate: boolean;
}

/**
 * A different event already fills a stream position this submission uses: a leaf of the tree
 * (`existingIndex` ≥ 0), or a leaf claimed earlier in the same batch or integration (-1).
 */
export class ConflictError extends Error {
  constructor(
    readonly position: number,
    readonly existingIndex: number,
    readonly existingLeafHash: Hash,
  ) {
    super(
      `event ${position} conflicts with leaf ${existingIndex}: a different event fills that stream position`,
    );
    this.name = "ConflictError";
  }
}

/**
 * Session ids of recently seen sessions: a batch holds few sessions, and a SHA-256 per event is a
 * visible share of the submit path's CPU. Bounded: emptied when it holds 4,096.
 */
const sessionIds = new Map<string, string>();

function cachedSessionId(host: string, server: string, session: string): string {
  const key = `${host}\u0000${server}\u0000${session}`;
  let id = sessionIds.get(key);
  if (id === undefined) {
    if (sessionIds.size >= 4096) sessionIds.clear();
    id = sessionId(host, server, session);
    sessionIds.set(key, id);
  }
  return id;
}

/** The stream columns the sequencer indexes for an event. */
export function streamOf(m: EventMeta): StreamInfo {
  return {
    host: m.host,
    server: m.server,
    pane: m.pane,
    seq: m.seq,
    session: m.session,
    sessionId: cachedSessionId(m.host, m.server, m.session),
    type: m.type,
    user: m.user,
    time: m.time,
  };
}

/** An event's leaf (its canonical JSON), hash, stream columns and payload, for the sequencer. */
export function eventInput(
  meta: EventMeta,
  leaf: Uint8Array,
  hasher: Hasher,
  payload?: { salt: Uint8Array; content: Uint8Array },
): LeafInput {
  return { leaf, leafHash: hasher.leaf(leaf), stream: streamOf(meta), payload };
}
