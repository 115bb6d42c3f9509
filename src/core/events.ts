// The tmux event schema of docs/design.md §2.3 (zod/mini; its messages: zod-messages.ts), and the
// rule that turns a submission into a leaf: the leaf is the RFC 8785 canonical JSON of the event's
// metadata, whose `payload` commits to the content with a salt:
//
//   payload.sha256 = base64(SHA-256(salt(32 bytes) || content bytes)),  payload.size = |content|
//
// where the content bytes are the UTF-8 of `content`, or its base64 decoding when `enc` is
// "base64". `content`, `salt` and `enc` travel beside the metadata and are never in the leaf.
// Every object is strict: an unknown field is an error, so the log never hashes what it did not
// validate, and never rewrites a value.
//
// Longer than most files: the schema of every event type and the rules across fields are one
// contract, read together.

import * as z from "zod/mini";
import { MAX_LEAF_SIZE } from "./bundle.ts";
import { base64Decode, base64Encode, concatBytes, utf8Decode, utf8Encode } from "./encoding.ts";
import { check, TrailError } from "./errors.ts";
import { sha256 } from "./hash.ts";
import { canonicalJson, isCanonicalParse } from "./jcs.ts";
import { issueText } from "./zod-messages.ts";

export const MAX_CONTENT = 65536;

export const EVENT_TYPES = [
  "output",
  "command",
  "session-open",
  "session-close",
  "window-open",
  "window-close",
  "pane-open",
  "pane-close",
  "attach",
  "detach",
  "resize",
  "erasure",
  "access",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
/** Types whose events carry content (and so a payload commitment). */
export const CONTENT_TYPES: readonly EventType[] = ["output", "command"];

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A real UTC date and time (no Feb 30, no hour 24), in the years 0100-9999. */
function validTime(s: string): boolean {
  const m = RFC3339_UTC.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1];
  // Years below 100 were always refused (Date.UTC reads them as 19xx); they still are, so every
  // verifier, old or new, reads the same leaves as valid.
  return (
    y >= 100 &&
    days !== undefined &&
    d >= 1 &&
    d <= days &&
    Number(m[4]) < 24 &&
    Number(m[5]) < 60 &&
    Number(m[6]) < 60
  );
}

const ident = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(256),
    z.regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters"),
  );
export const timeSchema = z
  .string()
  .check(z.refine(validTime, "must be an RFC 3339 UTC time like 2026-11-24T19:00:00.123Z"));
export const hash32Schema = z.string().check(
  z.refine((s) => {
    try {
      base64Decode(s, "hash", 32);
      return true;
    } catch {
      return false;
    }
  }, "must be strict base64 of 32 bytes"),
);
const count = z.number().check(z.int(), z.minimum(0));
const countTo = (max: number) => count.check(z.maximum(max));

export const payloadSchema = z.strictObject({ size: countTo(MAX_CONTENT), sha256: hash32Schema });
export const redactionSchema = z
  .strictObject({ kind: z.string().check(z.minLength(1), z.maxLength(64)), at: count, len: count })
  .check(z.describe("a span of the content replaced before the commitment was formed"));

const eventMetaShape = {
  v: z.literal(1),
  host: ident,
  server: ident,
  session: ident,
  window: ident,
  pane: ident,
  user: ident,
  seq: count,
  time: timeSchema,
  type: z.enum(EVENT_TYPES),
  payload: z.optional(payloadSchema),
  redactions: z.optional(z.array(redactionSchema).check(z.maxLength(1000))),
  client: z.optional(z.strictObject({ user: ident, tty: ident })),
  size: z.optional(z.strictObject({ cols: countTo(100_000), rows: countTo(100_000) })),
  name: z.optional(z.string().check(z.maxLength(256))),
  erasure: z.optional(
    z.strictObject({
      // Inclusive [first, last] ranges, first <= last (as the log writes them, and as the audit's
      // reader requires: a reversed range made a leaf one parser's event and the other's opaque).
      indexes: z
        .array(
          z
            .tuple([count, count])
            .check(
              z.refine(([first, last]) => first <= last, "a range's first index is above its last"),
            ),
        )
        .check(z.maxLength(100_000)),
      key: ident,
      reason: z.string().check(z.minLength(1), z.maxLength(1024)),
    }),
  ),
  access: z.optional(
    z.strictObject({ key: ident, read: z.string().check(z.minLength(1), z.maxLength(1024)) }),
  ),
};

/** The rules across fields, which the per-field shape cannot say: each broken one, in order. */
function crossFieldIssues(e: {
  type: EventType;
  payload?: unknown;
  erasure?: unknown;
  access?: unknown;
}): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const needsPayload = CONTENT_TYPES.includes(e.type);
  if (needsPayload && !e.payload)
    issues.push({ path: "payload", message: `required for ${e.type} events` });
  if (!needsPayload && e.payload)
    issues.push({ path: "payload", message: `not allowed for ${e.type} events` });
  if ((e.type === "erasure") !== (e.erasure !== undefined))
    issues.push({ path: "erasure", message: "erasure events, and only they, carry `erasure`" });
  if ((e.type === "access") !== (e.access !== undefined))
    issues.push({ path: "access", message: "access events, and only they, carry `access`" });
  return issues;
}

export const eventMetaSchema = z.strictObject(eventMetaShape).check(
  z.superRefine((e, ctx) => {
    for (const i of crossFieldIssues(e))
      ctx.addIssue({ code: "custom", path: [i.path], message: i.message });
  }),
);
export type EventMeta = z.infer<typeof eventMetaSchema>;

export const submissionSchema = z.strictObject({
  ...eventMetaShape,
  content: z.optional(z.string().check(z.maxLength(4 * MAX_CONTENT))),
  salt: z.optional(hash32Schema),
  enc: z.optional(z.literal("base64")),
});

export const commandContentSchema = z.strictObject({
  line: z.string().check(z.maxLength(MAX_CONTENT)),
  cwd: z.string().check(z.maxLength(4096)),
  exit: z.nullable(z.number().check(z.int())),
  start: timeSchema,
  end: timeSchema,
});

export interface ParsedSubmission {
  meta: EventMeta;
  /** Canonical JSON of `meta`: the leaf. */
  leaf: Uint8Array;
  content?: Uint8Array;
  salt?: Uint8Array;
}

/** base64(SHA-256(salt || content)). */
export function commitment(
  salt: Uint8Array,
  content: Uint8Array,
  digest: (data: Uint8Array) => Uint8Array = sha256,
): string {
  return base64Encode(digest(concatBytes(salt, content)));
}

export function eventLeaf(meta: EventMeta): Uint8Array {
  const leaf = utf8Encode(canonicalJson(meta));
  check(
    leaf.length <= MAX_LEAF_SIZE,
    "bad-event",
    `leaf of ${leaf.length} bytes exceeds ${MAX_LEAF_SIZE}`,
  );
  return leaf;
}

/**
 * Validates a submitted event, checks its commitment and forms its leaf. Throws only TrailError.
 * `digest` is the SHA-256 used for the commitment (the server passes node:crypto's, the faster one:
 * docs/performance.md).
 */
export function parseSubmission(
  json: unknown,
  digest: (data: Uint8Array) => Uint8Array = sha256,
): ParsedSubmission {
  // One pass of the schema: the submission's shape is the event's plus content, salt and enc,
  // so what remains after taking those off is valid event metadata once the rules across
  // fields hold (eventMetaSchema would check the same fields a second time).
  const r = submissionSchema.safeParse(json);
  if (!r.success) throw new TrailError("bad-event", issueText(r.error, "event"));
  const { content, salt, enc, ...meta } = r.data;
  const issue = crossFieldIssues(meta)[0];
  if (issue) throw new TrailError("bad-event", `${issue.path}: ${issue.message}`);
  const leaf = eventLeaf(meta);
  if (!meta.payload) {
    check(
      content === undefined && salt === undefined && enc === undefined,
      "bad-event",
      `${meta.type} events carry no content`,
    );
    return { meta, leaf };
  }
  check(
    content !== undefined && salt !== undefined,
    "bad-event",
    `${meta.type} events need content and salt`,
  );
  const bytes = enc === "base64" ? base64Decode(content, "content") : utf8Encode(content);
  check(
    bytes.length <= MAX_CONTENT,
    "bad-event",
    `content of ${bytes.length} bytes exceeds ${MAX_CONTENT}`,
  );
  const saltBytes = base64Decode(salt, "salt", 32);
  check(
    meta.payload.size === bytes.length,
    "commitment-mismatch",
    `payload.size ${meta.payload.size} but the content has ${bytes.length} bytes`,
  );
  check(
    commitment(saltBytes, bytes, digest) === meta.payload.sha256,
    "commitment-mismatch",
    "payload.sha256 does not commit to this content and salt",
  );
  if (meta.type === "command") parseCommandContent(bytes);
  return { meta, leaf, content: bytes, salt: saltBytes };
}

/** A command event's content: canonical JSON of {line, cwd, exit, start, end}. */
export function parseCommandContent(bytes: Uint8Array) {
  let v: unknown;
  try {
    v = JSON.parse(utf8Decode(bytes, "command content"));
  } catch (e) {
    throw new TrailError("bad-event", `command content is not JSON: ${(e as Error).message}`);
  }
  const r = commandContentSchema.safeParse(v);
  if (!r.success)
    throw new TrailError("bad-event", `command content: ${issueText(r.error, "event")}`);
  check(
    canonicalJson(r.data) === utf8Decode(bytes),
    "bad-event",
    "command content is not canonical JSON",
  );
  return r.data;
}

/** Parses a stored leaf back into event metadata; the bytes must be exactly its canonical form. */
export function parseLeaf(bytes: Uint8Array): EventMeta {
  return parseLeafText(utf8Decode(bytes, "leaf"));
}

/** parseLeaf of a leaf already held as text (a bundle's `leaf`): no decode of its bytes. */
export function parseLeafText(text: string): EventMeta {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TrailError("bad-event", "leaf is not JSON");
  }
  const r = eventMetaSchema.safeParse(v);
  if (!r.success) throw new TrailError("bad-event", issueText(r.error, "event"));
  // The schema has only named keys (no integer-like ones), as isCanonicalParse requires.
  check(isCanonicalParse(v, text), "bad-event", "leaf is not in canonical form");
  return r.data;
}

/** Builds a submission (for agents and tests): metadata + content, committed with `salt`. */
export function makeSubmission(
  meta: Omit<EventMeta, "payload">,
  content: Uint8Array | undefined,
  salt: Uint8Array,
): Record<string, unknown> {
  if (content === undefined) return { ...meta };
  const full = { ...meta, payload: { size: content.length, sha256: commitment(salt, content) } };
  let text: string | undefined;
  try {
    text = utf8Decode(content);
  } catch {
    text = undefined;
  }
  return text !== undefined
    ? { ...full, content: text, salt: base64Encode(salt) }
    : { ...full, content: base64Encode(content), enc: "base64", salt: base64Encode(salt) };
}
