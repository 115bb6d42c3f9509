// The log's own events (docs/design.md §2.3): `erasure` and `access` leaves live in the log's own
// streams, and only the log writes there. Two rules follow, both here so every reader applies the
// same ones:
//
//   1. Identity. A log's own event has host = the log's origin, server "log", and pane = its type
//      ("erasure" or "access"): the stream (host, server, pane) OwnEventWriter appends to. Verifiers
//      (audit, session bundles, the UI through them, tail) honour an erasure or access event only
//      when it carries that identity for the origin of the checkpoint they verified.
//
//   2. Nothing a submitter sends may read as an event (POST /v1/leaves). A leaf "reads as an
//      event" when some decoding of its bytes that a JSON reader might apply yields a JSON object
//      that has
//        - both a `v` and a `host` member (whatever their values: every event has both), or
//        - a `type` member whose value is one of the event types, or
//        - an `erasure` or an `access` member.
//      The decodings are those of RFC 8259 readers and of readers that follow RFC 4627 §3 /
//      Python's json.loads on bytes: UTF-8 (invalid sequences replaced, not refused; a BOM
//      skipped; whitespace around the value allowed), and UTF-16 or UTF-32 when a BOM or the
//      pattern of zero bytes in the first four says so. Membership is by name, so a duplicated
//      member (which readers resolve differently) cannot hide one. Every leaf either event parser
//      accepts (events.ts parseLeaf, audit/leaf-event.ts readLeafEvent) has `v` and `host`, so the
//      rule contains both parsers, and also what they refuse but a laxer reader might take: an
//      erasure with a reversed range, a leaf with whitespace or a BOM, an invalid field value.
//
// Worked example: `{"v":1,"host":"web-1"}` reads as an event (v and host); `{"type":"erasure"}`
// does (an event type); `{"type":"invoice","id":7}` does not; ` \n{"access":0}` does (whitespace
// is allowed); the UTF-16LE bytes of `{"v":1,"host":"x"}` do (7B 00 22 00: zero bytes at 1 and 3).

import { EVENT_TYPES } from "./events.ts";

/** The `server` of the log's own streams (and the `session` of its own events). */
export const LOG_SERVER = "log";
export const LOG_SESSION = "log";

/** The event types only the log writes. */
export const LOG_EVENT_TYPES: readonly string[] = ["erasure", "access"];

/** Rule 1: an erasure or access event of the log with origin `origin`, in its own stream. */
export function isLogOwnEvent(
  ev: { type: string; host: string; server: string; pane: string },
  origin: string | undefined,
): boolean {
  return (
    origin !== undefined &&
    LOG_EVENT_TYPES.includes(ev.type) &&
    ev.host === origin &&
    ev.server === LOG_SERVER &&
    ev.pane === ev.type
  );
}

type Json = Record<string, unknown>;

/**
 * Every JSON object the leaf's bytes decode to, under the decodings of rule 2 (usually one; none
 * for a leaf that is not a JSON object).
 */
export function leafObjects(bytes: Uint8Array): Json[] {
  const out: Json[] = [];
  for (const text of decodings(bytes)) {
    // A JSON object starts with "{" after whitespace: anything else is settled without parsing.
    if (!/^[\t\n\r ]*\{/.test(text)) continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof v === "object" && v !== null && !Array.isArray(v)) out.push(v as Json);
  }
  return out;
}

const has = (o: Json, k: string) => Object.hasOwn(o, k);
const TYPES: readonly string[] = EVENT_TYPES;

/** Rule 2 for one parsed object. */
export function objectReadsAsEvent(o: Json): boolean {
  return (
    (has(o, "v") && has(o, "host")) ||
    (typeof o.type === "string" && TYPES.includes(o.type)) ||
    has(o, "erasure") ||
    has(o, "access")
  );
}

/** Rule 2: whether a leaf reads as a tmux event to some reader (POST /v1/leaves refuses it). */
export function readsAsEvent(bytes: Uint8Array): boolean {
  // Most leaves a reader meets are no JSON object at all: settled on their first bytes.
  if (!utf8Object(bytes) && !detectWide(bytes)) return false;
  return leafObjects(bytes).some(objectReadsAsEvent);
}

/** The `host` members of what the leaf decodes to (POST /v1/leaves refuses the log's origin). */
export function leafHosts(bytes: Uint8Array): unknown[] {
  return leafObjects(bytes)
    .filter((o) => has(o, "host"))
    .map((o) => o.host);
}

const UTF8 = new TextDecoder("utf-8");

/** Whether the UTF-8 text of `b` starts with "{" after a BOM and whitespace (checked on bytes). */
function utf8Object(b: Uint8Array): boolean {
  const n = b.length;
  let i = n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  while (i < n && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  return i < n && b[i] === 0x7b;
}

/**
 * The texts a JSON reader might see in `bytes` that could be objects: UTF-8 (BOM skipped), and
 * UTF-16/32 when detected. The byte checks come first: the audit calls this for every opaque leaf,
 * and most are not JSON at all.
 */
function decodings(bytes: Uint8Array): string[] {
  const texts = utf8Object(bytes) ? [UTF8.decode(bytes)] : [];
  const other = detectWide(bytes);
  if (other) {
    try {
      texts.push(other(bytes));
    } catch {
      // not decodable in that encoding after all
    }
  }
  return texts;
}

/** RFC 4627 §3 / Python's json.detect_encoding, for the wide encodings only. */
function detectWide(b: Uint8Array): ((b: Uint8Array) => string) | undefined {
  const n = b.length;
  if (n < 2) return undefined;
  const b0 = b[0]!;
  const b1 = b[1]!;
  // Fast path: two nonzero bytes that start no BOM are UTF-8 (or nothing JSON) to every reader.
  if (b0 !== 0 && b1 !== 0 && b0 !== 0xfe && b0 !== 0xff) return undefined;
  const b2 = n > 2 ? b[2]! : -1;
  const b3 = n > 3 ? b[3]! : -1;
  if (b0 === 0x00 && b1 === 0x00 && b2 === 0xfe && b3 === 0xff) return utf32(false);
  if (b0 === 0xff && b1 === 0xfe && b2 === 0x00 && b3 === 0x00) return utf32(true);
  if (b0 === 0xfe && b1 === 0xff) return utf16("utf-16be");
  if (b0 === 0xff && b1 === 0xfe) return utf16("utf-16le");
  if (n >= 4) {
    if (b0 === 0) return b1 !== 0 ? utf16("utf-16be") : utf32(false);
    if (b1 === 0) return b2 !== 0 || b3 !== 0 ? utf16("utf-16le") : utf32(true);
  } else if (n === 2) {
    if (b0 === 0) return utf16("utf-16be");
    if (b1 === 0) return utf16("utf-16le");
  }
  return undefined;
}

const utf16 = (label: "utf-16le" | "utf-16be") => (b: Uint8Array) =>
  new TextDecoder(label).decode(b);

/** UTF-32 (TextDecoder has none): invalid code points become U+FFFD, a leading BOM is skipped. */
const utf32 = (littleEndian: boolean) => (b: Uint8Array) => {
  const view = new DataView(b.buffer, b.byteOffset, b.length - (b.length % 4));
  let s = "";
  for (let o = 0; o < view.byteLength; o += 4) {
    const cp = view.getUint32(o, littleEndian);
    if (o === 0 && cp === 0xfeff) continue;
    s += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
  }
  return s;
};
