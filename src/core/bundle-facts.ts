// What a session bundle's verifier learns from one event alone: its leaf's hash, its leaf parsed
// and checked (schema, canonical form), and its content decoded and checked against the leaf's
// commitment. None of it depends on another event, so a verifier with more than one core may find
// these facts in parallel (lib/bundle-facts-pool.ts) and hand them to verifySessionBundle, which
// does everything that depends on the bundle as a whole (proofs, the session, streams, erasures,
// casts). Per event this is most of a verification's work: a 100,000-event bundle is 100,000 leaf
// hashes, schema checks, canonical re-serialisations and commitments.

import { base64Decode, utf8Encode } from "./encoding.ts";
import { isTrailError } from "./errors.ts";
import { commitment, type EventMeta, parseLeafText } from "./events.ts";
import type { Hasher } from "./hash.ts";

/** The parts of a bundle's event its facts come from (every bundle format has them). */
export interface FactsInput {
  leaf: string;
  payload?: { salt: string; content: string } | null;
}

export interface EventFacts {
  /** RFC 6962 leaf hash of the leaf's UTF-8 bytes. */
  leafHash: Uint8Array;
  /** The leaf as event metadata; absent when it is not a valid event (leafWhy says why). */
  meta?: EventMeta;
  leafWhy?: string;
  /** When the leaf commits to content and the bundle carries it: the content, decoded... */
  content?: Uint8Array;
  /** ...or why it does not match the commitment (then content is absent). */
  contentWhy?: string;
}

/** A failure as verification reports it: "code: message" for the project's own errors. */
export function failureText(e: unknown): string {
  return isTrailError(e) ? `${e.code}: ${e.message}` : ((e as Error)?.message ?? String(e));
}

export function eventFacts(ev: FactsInput, hasher: Hasher): EventFacts {
  const facts: EventFacts = { leafHash: hasher.leaf(utf8Encode(ev.leaf)) };
  try {
    facts.meta = parseLeafText(ev.leaf);
  } catch (e) {
    facts.leafWhy = failureText(e);
    return facts;
  }
  const committed = facts.meta.payload;
  if (!committed || !ev.payload) return facts;
  try {
    const salt = base64Decode(ev.payload.salt, "salt", 32);
    const content = base64Decode(ev.payload.content, "content");
    if (content.length !== committed.size) {
      facts.contentWhy = `content is ${content.length} bytes, the leaf commits to ${committed.size}`;
    } else if (commitment(salt, content, hasher.digest) !== committed.sha256) {
      facts.contentWhy = "content or salt does not match the leaf's commitment";
    } else facts.content = content;
  } catch (e) {
    facts.contentWhy = failureText(e);
  }
  return facts;
}
