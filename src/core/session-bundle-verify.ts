// Verifying a session bundle (the format: session-bundle.ts).
//
// Verification trusts only keys it is given. With none, it still runs every check against the
// bundle's own key, and says so, but never reports the bundle as verified (`ok` false,
// `consistent` true): anyone can write a key into a bundle and sign with it. It checks the
// checkpoint's signatures and quorum, every event's inclusion, commitments, that the header (id,
// host, server, session, user) is the one the signed events name, that each missing payload is
// named by a verified erasure event, that each pane stream is contiguous from seq 0 (complete with
// a pane-close, else reported open; a failure with `requireClosed`), that `last` agrees with the
// events, and that each cast equals the one regenerated from the verified events. A bundle with no
// events proves nothing and fails. Every failure names the event and what was wrong.
//
// What `last` proves and what it cannot: the field is the exporter's word, not signed by the log.
// It makes an exporter that leaves out the session's tail say so or contradict itself, and it
// shows the reader how far the session went; it cannot prove that no event of the session exists
// between the bundle's last event and the checkpoint's size (the tree is not indexed by session:
// only a mirror of the whole log shows that). Stream ends proven by close events are the only
// completeness the signed leaves themselves carry.
//
// Longer than most files: the one verification procedure, step by step; the casts are
// session-cast.ts.

import { type EventFacts, eventFacts, failureText as message } from "./bundle-facts.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { base64Decode, base64Encode, bytesEqual } from "./encoding.ts";
import type { EventMeta } from "./events.ts";
import { type Hasher, rfc6962 } from "./hash.ts";
import { cosignatureVerifierKey, parseLogVerifierKey, parseVerifierKey } from "./keys.ts";
import { rootFromMultiInclusion } from "./multi-proof.ts";
import { isLogOwnEvent } from "./own-events.ts";
import { verifyInclusion } from "./proof-verify.ts";
import {
  type AnySessionBundle,
  BUNDLE_FORMAT_V3,
  type BundleEvent,
  type BundleEventV3,
} from "./session-bundle.ts";
import { buildCasts, type CastInput } from "./session-cast.ts";
import { sessionId } from "./session-id.ts";
import { checkWindow, inWindow, type TimeWindow } from "./time-window.ts";
import { parseTlogProof } from "./tlog-proof.ts";

export interface BundleTrust {
  logKeys?: string[];
  /** With `quorum` also given, the whole witness policy (an empty list included). */
  witnessKeys?: string[];
  quorum?: number;
  /** An open stream (no pane-close in the bundle) is a failure, not only reported. */
  requireClosed?: boolean;
  /** The session the caller asked for: a bundle of another session is a failure. */
  sessionId?: string;
  /**
   * false: the caller wants the verdict only, so recordings the bundle does not carry are not
   * regenerated (`report.recordings` stays empty; a bundle's own casts are still checked).
   */
  recordings?: boolean;
}

export interface StreamReport {
  pane: string;
  events: number;
  /** 0 unless the bundle is a window that starts after the session did. */
  firstSeq: number;
  lastSeq: number;
  status: "complete" | "open" | "gap";
}

export interface BundleFailure {
  /** The event's index in the log, when the failure is about one event. */
  index?: number;
  message: string;
}

export interface BundleReport {
  /** Every check passed, against a log key the caller gave (never the bundle's own). */
  ok: boolean;
  /** Every check passed, whichever key: with the bundle's own key this proves nothing. */
  consistent: boolean;
  trusted: {
    log: string[];
    witnesses: string[];
    quorum: number;
    /** Where each came from: the command line (or caller), or the bundle itself. */
    source: { log: "given" | "bundle"; witnesses: "given" | "bundle" };
  };
  origin: string;
  session: AnySessionBundle["session"] | null;
  /** The bundle's time window (v3), when it is one. */
  window: TimeWindow | null;
  /** The checkpoint every proof was checked against: size, root (base64) and cosigners. */
  checkpoint: { size: number; root: string; cosigners: string[] } | null;
  events: number;
  verified: number;
  erased: { index: number; by: number }[];
  streams: StreamReport[];
  /** Panes whose cast in the bundle equals the one regenerated from the verified events. */
  casts: string[];
  /** Per pane, the asciicast the verified events play (what players should play). */
  recordings: Record<string, string>;
  pending: number;
  /** The exporter's word on the session's last index (v2), and whether the bundle proves it. */
  last: { index: number; proven: boolean } | null;
  /** A verified session-close event is in the bundle. */
  sessionClosed: boolean;
  failures: BundleFailure[];
  /** Per event index: null when it verified, else why not (for marking it where it plays). */
  eventStatus: Record<number, string | null>;
}

/** Each event's and erasure's facts (bundle-facts.ts), in the bundle's order. */
export interface BundleFacts {
  events: EventFacts[];
  erasures: EventFacts[];
}

/** Every event's facts, found here in turn (a caller with more cores finds them in parallel). */
export function bundleFacts(bundle: AnySessionBundle, hasher: Hasher = rfc6962): BundleFacts {
  return {
    events: bundle.events.map((ev) => eventFacts(ev, hasher)),
    erasures: bundle.erasures.map((ev) => eventFacts(ev, hasher)),
  };
}

/**
 * Verifies a bundle. `facts`, when given, are the bundle's per-event facts as bundleFacts finds
 * them (lib/bundle-facts-pool.ts finds them on several threads); else they are found here.
 */
export function verifySessionBundle(
  bundle: AnySessionBundle,
  trust: BundleTrust = {},
  hasher: Hasher = rfc6962,
  facts: BundleFacts = bundleFacts(bundle, hasher),
): BundleReport {
  if (
    facts.events.length !== bundle.events.length ||
    facts.erasures.length !== bundle.erasures.length
  ) {
    throw new Error("verifySessionBundle: the facts given are not of this bundle's events");
  }
  const failures: BundleFailure[] = [];
  const fail = (message: string, index?: number) =>
    failures.push(index === undefined ? { message } : { index, message });
  const logSource = trust.logKeys?.length ? "given" : "bundle";
  // Witnesses given with a quorum are the caller's whole policy, even none (the web UI's pinned
  // policy): the bundle's keys are then not looked at.
  const witnessSource =
    trust.witnessKeys?.length || (trust.witnessKeys && trust.quorum !== undefined)
      ? "given"
      : "bundle";
  const logKeys = trust.logKeys?.length ? trust.logKeys : [bundle.keys.log];
  const witnessKeys = witnessSource === "given" ? (trust.witnessKeys ?? []) : bundle.keys.witnesses;
  const quorum =
    trust.quorum ?? (witnessSource === "given" ? witnessKeys.length : bundle.keys.quorum);
  const report: BundleReport = {
    ok: false,
    consistent: false,
    trusted: {
      log: logKeys,
      witnesses: witnessKeys,
      quorum,
      source: { log: logSource, witnesses: witnessSource },
    },
    origin: bundle.origin,
    session: bundle.session,
    window: null,
    checkpoint: null,
    events: bundle.events.length,
    verified: 0,
    erased: [],
    streams: [],
    casts: [],
    recordings: {},
    pending: bundle.pending,
    last: null,
    sessionClosed: false,
    failures,
    eventStatus: {},
  };

  // 0. The header: the id is the one of (host, server, session); the user is checked per event.
  const h = bundle.session;
  const derivedId = sessionId(h.host, h.server, h.session);
  if (h.id !== derivedId) {
    fail(`header: session id ${h.id} is not the id of its host, server and session (${derivedId})`);
  }
  if (trust.sessionId !== undefined && h.id !== trust.sessionId) {
    fail(`header: this is session ${h.id}, not the session ${trust.sessionId} asked for`);
  }
  // A window may be quiet (an hour nobody typed); a whole session with no events proves nothing.
  // What a quiet window hides, if anything, shows where the windows around it meet (the seqs).
  const windowed = bundle.format === BUNDLE_FORMAT_V3 && bundle.window !== undefined;
  if (bundle.events.length === 0 && !windowed)
    fail("the bundle holds no events: it proves nothing");

  // 1. The checkpoint: signed by the log key, cosigned by the quorum.
  let size = 0;
  let root: Uint8Array | undefined;
  try {
    const opened = openCheckpoint(
      bundle.checkpoint,
      logKeys.map(parseLogVerifierKey),
      witnessKeys.map((k) => parseVerifierKey(cosignatureVerifierKey(k))),
      quorum,
      bundle.origin,
    );
    size = opened.checkpoint.size;
    root = opened.checkpoint.root;
    report.checkpoint = {
      size,
      root: base64Encode(opened.checkpoint.root),
      cosigners: opened.witnesses.map((w) => w.name),
    };
  } catch (e) {
    fail(`checkpoint: ${message(e)}`);
  }

  // 1b. v3: each list's multi-leaf proof, once; the window.
  const v3 = bundle.format === BUNDLE_FORMAT_V3 ? bundle : undefined;
  let included:
    | { events: Map<number, string | null>; erasures: Map<number, string | null> }
    | undefined;
  let window: TimeWindow = {};
  if (v3) {
    included = {
      events: multiIncluded(v3.events, facts.events, v3.end.events, "events", size, root, hasher),
      erasures: multiIncluded(
        v3.erasures,
        facts.erasures,
        v3.end.erasures,
        "erasures",
        size,
        root,
        hasher,
      ),
    };
    if (v3.window) {
      try {
        checkWindow(v3.window);
        window = v3.window;
        report.window = v3.window;
      } catch (e) {
        fail(`header: ${message(e)}`);
      }
    }
  }

  // 2. Each event: its proof, its leaf, its place in the session, its content.
  const check = (
    ev: BundleEvent | BundleEventV3,
    f: EventFacts,
    list: "events" | "erasures",
  ): EventMeta | undefined => {
    try {
      if (included) {
        const why = included[list].get(ev.index);
        if (why) throw new Error(why);
        if (!f.meta) throw new Error(f.leafWhy);
        // An erasure event is the log's, made when it erased: the window is the session's.
        if (list === "events" && !inWindow(f.meta.time, window)) {
          throw new Error(`its time ${f.meta.time} is outside the bundle's window`);
        }
        return f.meta;
      }
      const proof = parseTlogProof((ev as BundleEvent).proof);
      if (proof.checkpoint !== bundle.checkpoint) {
        throw new Error("its proof is against another checkpoint than the bundle's");
      }
      if (proof.index !== ev.index) {
        throw new Error(`its proof is for index ${proof.index}`);
      }
      if (!root) throw new Error("no verified checkpoint to check it against");
      verifyInclusion(ev.index, size, f.leafHash, proof.proof, root, hasher);
      if (!f.meta) throw new Error(f.leafWhy);
      return f.meta;
    } catch (e) {
      fail(`event #${ev.index}: ${message(e)}`, ev.index);
      report.eventStatus[ev.index] = message(e);
      return undefined;
    }
  };

  const erasures: { index: number; ranges: [number, number][] }[] = [];
  for (const [i, ev] of bundle.erasures.entries()) {
    const meta = check(ev, facts.erasures[i]!, "erasures");
    if (!meta) continue;
    if (meta.type !== "erasure" || !meta.erasure) {
      fail(`event #${ev.index}: listed as an erasure but is a ${meta.type} event`, ev.index);
      continue;
    }
    // Only the log erases: an erasure event counts only from the log's own stream.
    if (!isLogOwnEvent(meta, bundle.origin)) {
      fail(
        `event #${ev.index}: an erasure event not in the log's own stream (host ${meta.host}, server ${meta.server}, pane ${meta.pane}; the log's is ${bundle.origin}/log/erasure): not honoured`,
        ev.index,
      );
      continue;
    }
    erasures.push({ index: ev.index, ranges: meta.erasure.indexes });
  }

  const cast: CastInput[] = [];
  const streams = new Map<string, { pane: string; seqs: number[]; closed: boolean }>();
  let prevIndex = -1;
  for (const [i, ev] of bundle.events.entries()) {
    if (ev.index <= prevIndex) fail(`event #${ev.index}: events are not in tree order`, ev.index);
    prevIndex = ev.index;
    const f = facts.events[i]!;
    const meta = check(ev, f, "events");
    if (!meta) continue;
    const s = bundle.session;
    if (meta.host !== s.host || meta.server !== s.server || meta.session !== s.session) {
      fail(
        `event #${ev.index}: belongs to another session (${meta.host} ${meta.session})`,
        ev.index,
      );
      report.eventStatus[ev.index] = "belongs to another session";
      continue;
    }
    if (meta.user !== s.user) {
      const why = `names user ${meta.user}, the bundle's header says ${s.user}`;
      fail(`event #${ev.index}: ${why}`, ev.index);
      report.eventStatus[ev.index] = why;
      continue;
    }
    let content: Uint8Array | null = null;
    let erasedBy: number | undefined;
    let why: string | null = null;
    if (meta.payload) {
      if (ev.payload) {
        content = f.content ?? null;
        why = f.contentWhy ?? null;
      } else {
        erasedBy = erasures.find((x) => x.index > ev.index && inRanges(x.ranges, ev.index))?.index;
        if (erasedBy === undefined) why = "content is missing and no erasure event names it";
        else report.erased.push({ index: ev.index, by: erasedBy });
      }
    } else if (ev.payload) {
      why = "content is attached to an event that commits to none";
    }
    if (why) {
      fail(`event #${ev.index}: ${why}`, ev.index);
      report.eventStatus[ev.index] = why;
      continue;
    }
    report.eventStatus[ev.index] = null;
    report.verified++;
    cast.push({ meta, content, erasedBy });
    if (meta.type === "session-close") report.sessionClosed = true;
    if (meta.pane !== "-") {
      const st = streams.get(meta.pane) ?? { pane: meta.pane, seqs: [], closed: false };
      st.seqs.push(meta.seq);
      if (meta.type === "pane-close") st.closed = true;
      streams.set(meta.pane, st);
    }
  }

  // 3. Streams: contiguous from 0 (in a window that starts after the session: from its first
  // seq); complete with a pane-close.
  for (const st of streams.values()) {
    const seqs = [...st.seqs].sort((a, b) => a - b);
    const from = window.since !== undefined ? seqs[0]! : 0;
    const gap = seqs.findIndex((q, i) => q !== from + i);
    const lastSeq = seqs[seqs.length - 1]!;
    if (gap >= 0) {
      fail(
        seqs[gap] === seqs[gap - 1]
          ? `stream ${st.pane}: seq ${seqs[gap]} appears twice`
          : `stream ${st.pane}: seq ${from + gap} is missing`,
      );
    }
    report.streams.push({
      pane: st.pane,
      events: seqs.length,
      firstSeq: seqs[0]!,
      lastSeq,
      status: gap >= 0 ? "gap" : st.closed ? "complete" : "open",
    });
    if (trust.requireClosed && gap < 0 && !st.closed) {
      fail(
        `stream ${st.pane}: open (no pane-close in this bundle), and closed streams are required`,
      );
    }
  }

  // 3b. The session's last index, as the exporter knew it (v2): the bundle's last event when the
  // checkpoint covers it, else after the checkpoint and counted as pending.
  if (bundle.last !== undefined && report.checkpoint) {
    const L = bundle.last;
    const end = bundle.events.length ? bundle.events[bundle.events.length - 1]!.index : -1;
    const proven = L < size && L === end && report.eventStatus[L] === null;
    report.last = { index: L, proven };
    if (window.until !== undefined || (windowed && end < 0)) {
      // A window that ends before the session goes on past its last event; a quiet window that
      // starts after the session's last event holds none of it: neither can prove where it ends.
      if (L < end)
        fail(`last: the exporter says the session ends at #${L}, but the bundle holds #${end}`);
    } else if (L < size && L !== end) {
      fail(
        L > end
          ? `last: the exporter knows of event #${L} of this session, but the bundle ends at #${end} (events left out)`
          : `last: the exporter says the session ends at #${L}, but the bundle holds #${end}`,
      );
    } else if (L < size && bundle.pending > 0) {
      fail(
        `last: the session ends at #${L}, inside the checkpoint, yet ${bundle.pending} events are said to be pending`,
      );
    } else if (L >= size && bundle.pending === 0) {
      fail(
        `last: the session's last event #${L} is after the checkpoint (size ${size}), yet none is said to be pending`,
      );
    }
  }

  // 4. Casts: what the verified events play, byte for byte.
  const given = bundle.casts ?? {};
  // v3 may leave its casts out: the regenerated ones are what plays. Where the bundle has casts
  // (v1 and v2 must), they are compared with the regenerated ones, wanted or not.
  const comparing = !(v3 && !v3.casts);
  const expected = comparing || trust.recordings !== false ? buildCasts(cast) : {};
  report.recordings = expected;
  const compared = comparing ? [...Object.keys(expected), ...Object.keys(given)] : [];
  for (const pane of new Set(compared)) {
    const want = expected[pane];
    const got = given[pane];
    if (want === undefined) fail(`cast of pane ${pane}: no verified events play in it`);
    else if (got === undefined) fail(`cast of pane ${pane} is missing`);
    else if (want !== got) {
      const a = got.split("\n");
      const b = want.split("\n");
      const line = a.findIndex((l, i) => l !== b[i]);
      fail(`cast of pane ${pane} differs from its verified events at line ${line + 1}`);
    } else report.casts.push(pane);
  }
  report.consistent = failures.length === 0;
  report.ok = report.consistent && logSource === "given";
  return report;
}

/**
 * Checks one list's multi-leaf proof (v3) against the checkpoint's root: per index, null when
 * included, else why not. A multi-leaf proof that fails does not say which element was altered,
 * so every element of the list is failed with the same reason.
 */
function multiIncluded(
  list: readonly BundleEventV3[],
  facts: readonly EventFacts[],
  end: readonly string[],
  what: string,
  size: number,
  root: Uint8Array | undefined,
  hasher: Hasher,
): Map<number, string | null> {
  const result = new Map<number, string | null>();
  let why: string | null = null;
  if (!root) why = "no verified checkpoint to check it against";
  else if (list.length === 0) {
    if (end.length > 0) why = `end.${what} holds hashes but the bundle has no ${what}`;
  } else {
    try {
      const hash = (h: string) => base64Decode(h, "hash", 32);
      const got = rootFromMultiInclusion(
        {
          size,
          leaves: list.map((ev, i) => ({
            index: ev.index,
            hash: facts[i]!.leafHash,
            before: ev.gap.map(hash),
          })),
          after: end.map(hash),
        },
        hasher,
      );
      if (!bytesEqual(got, root)) {
        why = `proof-mismatch: the ${what}' multi-leaf inclusion proof does not lead to the checkpoint's root (one of the ${list.length} ${what}, or a hash between them, was altered)`;
      }
    } catch (e) {
      why = `the ${what}' multi-leaf inclusion proof: ${message(e)}`;
    }
  }
  for (const ev of list) result.set(ev.index, why);
  return result;
}

function inRanges(ranges: readonly (readonly [number, number])[], i: number): boolean {
  return ranges.some(([a, b]) => a <= i && i <= b);
}
