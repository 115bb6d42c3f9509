// A command event's content from one commands.log record (docs/design.md §2.3, §7.5), redacted.
//
// The record (pane, line, cwd, exit status, start and end in epoch milliseconds) is parsed by
// command-record.ts. The times may carry decimals ("1733572800123.456": they are rounded) or be
// missing or absurd (then the end is when the agent read the record, and the start the end).
//
// The line and the cwd go through the same redaction as pane output, before the content is
// formed. The content is the canonical JSON (RFC 8785) of {cwd, end, exit, line, start}, and a
// redaction's `at` is where its "[REDACTED:kind]" marker begins in those content bytes, as for
// output (the offset in the content sent): the one convention lets a reader of any event find a
// marker with content[at…], without knowing the type's layout or undoing JSON escapes.
// Worked example: line `mysql --password=hunter2`, cwd `/srv` gives the content
//   {"cwd":"/srv","end":"…","exit":0,"line":"mysql --password=[REDACTED:password]","start":"…"}
// and {kind:"password", at:<offset of the `[` after "--password=">, len:7} (7 = the bytes of
// "hunter2"; `len` counts the original UTF-8 bytes replaced).
// A line too long for one event (content is at most 64 KiB; a cwd, 4 KiB) is cut, outside any
// marker, and ends in "[TRUNCATED]": an event the log refuses would hold every later one back.
// The JSON is not redacted as a whole on purpose: a match there could swallow a `\"` escape or
// span two fields and leave invalid JSON, and `len` would count escaped bytes.

import { MAX_CONTENT } from "../core/events.ts";
import { canonicalJson } from "../core/jcs.ts";
import { parseCommandRecord } from "./command-record.ts";
import { type Redaction, type RedactionPattern, redactText } from "./redact.ts";

export interface CommandEvent {
  pane: string;
  content: Buffer;
  redactions: Redaction[];
}

/** The most bytes of a cwd's JSON string (the command content schema's limit is 4096 chars). */
const MAX_CWD = 4096;

/** Year 10000: past it toISOString leaves the RFC 3339 form. */
const MAX_MS = 253_402_300_800_000;

/** A lone UTF-16 surrogate (a --redact pattern may cut a pair): JCS refuses them. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const millis = (n: number) =>
  Number.isFinite(n) && n >= 0 && n < MAX_MS ? Math.round(n) : undefined;

/**
 * One line of commands.log (latin1 text, without its newline) as a command event's content and
 * redactions; undefined when it is not a record (the caller skips it).
 */
export function commandEvent(
  raw: string,
  patterns: RedactionPattern[],
  now = Date.now(),
): CommandEvent | undefined {
  const r = parseCommandRecord(raw);
  if (!r) return undefined;
  const text = (s: string) => {
    const x = redactText(s, patterns);
    return { ...x, text: x.text.replace(LONE_SURROGATE, "\ufffd") };
  };
  const cwd = shorten(text(r.cwd), MAX_CWD);
  let line = text(r.line);
  const endMs = millis(r.end) ?? now;
  const value: Record<string, string | number | null> = {
    cwd: cwd.text,
    end: new Date(endMs).toISOString(),
    exit: r.exit,
    line: line.text,
    start: new Date(millis(r.start) ?? endMs).toISOString(),
  };
  line = shorten(line, MAX_CONTENT - Buffer.byteLength(canonicalJson({ ...value, line: "" })));
  value.line = line.text;
  const redactions = [
    ...placed(value, "cwd", cwd.redactions),
    ...placed(value, "line", line.redactions),
  ];
  return { pane: r.pane, content: Buffer.from(canonicalJson(value)), redactions };
}

const TRUNCATED = "[TRUNCATED]";

/**
 * Cuts a redacted text to the longest prefix whose JSON string, "[TRUNCATED]" added, takes at most
 * `room` bytes (a binary search: JSON escapes make the size of a prefix uneven), never inside a
 * marker or a surrogate pair.
 */
function shorten(r: { text: string; redactions: Redaction[] }, room: number) {
  const size = (t: string) => Buffer.byteLength(JSON.stringify(t));
  if (size(r.text) <= room) return r;
  let lo = 0;
  let hi = r.text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size(r.text.slice(0, mid)) + TRUNCATED.length <= room) lo = mid;
    else hi = mid - 1;
  }
  let cut = lo;
  const inside = r.redactions.find((x) => x.at < cut && cut < x.at + `[REDACTED:${x.kind}]`.length);
  if (inside) cut = inside.at;
  if (/[\ud800-\udbff]/.test(r.text[cut - 1] ?? "")) cut--;
  return {
    text: r.text.slice(0, cut) + TRUNCATED,
    redactions: r.redactions.filter((x) => x.at < cut),
  };
}

/**
 * Moves redactions from offsets in the string value of `key` (UTF-16 indexes) to byte offsets in
 * canonicalJson(obj). RFC 8785 writes an object as `{"k1":v1,"k2":v2}` with the keys sorted, and
 * a string as JSON.stringify does; so the value of `key` starts after the members sorted before
 * it, and a marker at index i of the value starts 1 + (escaped bytes of value[0…i]) bytes later.
 */
function placed(
  obj: Record<string, string | number | null>,
  key: string,
  redactions: Redaction[],
): Redaction[] {
  if (redactions.length === 0) return [];
  const before = Object.fromEntries(Object.entries(obj).filter(([k]) => k < key));
  const head = canonicalJson(before).slice(0, -1);
  const valueAt = Buffer.byteLength(`${head}${head.length > 1 ? "," : ""}${JSON.stringify(key)}:`);
  const value = obj[key] as string;
  return redactions.map((r) => ({
    ...r,
    at: valueAt + Buffer.byteLength(JSON.stringify(value.slice(0, r.at))) - 1,
  }));
}
