// The tmux event schema of DESIGN section 1 (zod), and the rule that turns a submission into a
// leaf. The leaf is the RFC 8785 canonical JSON (jcs.ts) of the event's metadata, whose `payload`
// commits to the content with a salt:
//
//   payload.sha256 = base64(SHA-256(salt (32 bytes) || content bytes)),  payload.size = |content|
//
// where the content bytes are the UTF-8 of `content`, or its base64 decoding when `enc` is
// "base64". `content`, `salt` and `enc` travel beside the metadata and are never in the leaf.
// Worked example: {"v":1,…,"type":"output","payload":{"size":7,"sha256":"…"}} plus
// "content":"hello\r\n" and a salt; the leaf is that metadata with its keys sorted, no spaces.
//
// Guarantees: every object is strict (an unknown field is an error), every string is well-formed
// UTF-16 (so UTF-8 encoding never replaces a character), the log never rewrites a value, and a
// type-specific detail appears only on its types. Parsers throw only TrailError: "bad-event" whose
// message starts with the field path ("payload.sha256: …"), or "commitment-mismatch".

import { z } from "zod";
import { base64Decode, base64Encode, concatBytes, utf8Decode, utf8Encode } from "./encoding.ts";
import { check, isTrailError, TrailError } from "./errors.ts";
import { sha256 } from "./hash.ts";
import { canonicalJson } from "./jcs.ts";

/** Content bytes per event (DESIGN section 1: agents split larger output). */
export const MAX_CONTENT = 65536;
/** Leaf bytes: entry bundles use 16-bit lengths. */
export const MAX_LEAF = 65535;

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
/** Types whose events carry content, and so a payload commitment; the rest carry neither. */
export const CONTENT_TYPES: readonly EventType[] = ["output", "command"];

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !LONE_SURROGATE.test(s), "must not contain a lone surrogate");
/** A name: 1..256 characters, no control characters; "-" where not applicable. */
const ident = text(256)
  .min(1)
  .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;

/** YYYY-MM-DDTHH:MM:SS[.fraction]Z naming a real instant (no leap second, no Feb 30). */
function validTime(s: string): boolean {
  const m = RFC3339_UTC.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, ...number[]];
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo! - 1];
  return days !== undefined && d! >= 1 && d! <= days && h! < 24 && mi! < 60 && se! < 60;
}

export const timeSchema = z
  .string()
  .refine(validTime, "must be an RFC 3339 UTC time like 2026-11-24T19:00:00.123Z");
export const hash32Schema = z.string().refine((s) => {
  try {
    base64Decode(s, "hash", 32);
    return true;
  } catch {
    return false;
  }
}, "must be strict base64 of 32 bytes");
const count = z.number().int().min(0); // zod 4: .int() is a safe integer

export const payloadSchema = z
  .object({ size: count.max(MAX_CONTENT), sha256: hash32Schema })
  .strict();
export const redactionSchema = z
  .object({ kind: ident.max(64), at: count, len: count })
  .strict()
  .describe("a span of the content replaced on the host before the commitment was formed");
export const erasureSchema = z
  .object({
    indexes: z
      .array(z.tuple([count, count]).refine(([a, b]) => a <= b, "a range is [from, to], from ≤ to"))
      .min(1)
      .max(10_000)
      .describe("inclusive ranges of leaf indexes whose content was erased"),
    key: ident,
    reason: text(1024).min(1),
  })
  .strict();
export const accessSchema = z
  .object({ key: ident, read: text(1024).min(1) })
  .strict()
  .describe("who (key id) read what content");

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
  payload: payloadSchema.optional(),
  redactions: z.array(redactionSchema).max(1000).optional(),
  client: z.object({ user: ident, tty: ident }).strict().optional(),
  size: z
    .object({ cols: count.max(100_000), rows: count.max(100_000) })
    .strict()
    .optional(),
  name: text(256).optional(),
  erasure: erasureSchema.optional(),
  access: accessSchema.optional(),
};

/** Which event types each optional detail belongs to, and whether those types require it. */
const DETAILS: Record<string, { types: readonly EventType[]; required?: boolean }> = {
  payload: { types: CONTENT_TYPES, required: true },
  redactions: { types: CONTENT_TYPES },
  client: { types: ["attach", "detach"] },
  size: { types: ["resize", "pane-open"] },
  name: { types: ["session-open", "session-close", "window-open", "window-close"] },
  erasure: { types: ["erasure"], required: true },
  access: { types: ["access"], required: true },
};

function typeRules(e: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const type = e.type as EventType;
  for (const [field, rule] of Object.entries(DETAILS)) {
    const present = e[field] !== undefined;
    const allowed = rule.types.includes(type);
    if (present && !allowed)
      ctx.addIssue({ code: "custom", path: [field], message: `not allowed on ${type} events` });
    if (!present && allowed && (rule.required || (field === "size" && type === "resize")))
      ctx.addIssue({ code: "custom", path: [field], message: `required on ${type} events` });
  }
}

export const eventMetaSchema = z.object(eventMetaShape).strict().superRefine(typeRules);
export type EventMeta = z.infer<typeof eventMetaSchema>;

export const submissionSchema = z
  .object({
    ...eventMetaShape,
    content: text(4 * MAX_CONTENT)
      .optional()
      .describe("UTF-8 text, or base64 when enc is base64"),
    salt: hash32Schema.optional().describe("32 random bytes, base64"),
    enc: z.literal("base64").optional(),
  })
  .strict()
  .superRefine(typeRules);
export type Submission = z.input<typeof submissionSchema>;

export const commandContentSchema = z
  .object({
    line: text(MAX_CONTENT),
    cwd: text(4096),
    exit: z.number().int().nullable(),
    start: timeSchema,
    end: timeSchema,
  })
  .strict();
export type CommandContent = z.infer<typeof commandContentSchema>;

export interface ParsedSubmission {
  meta: EventMeta;
  /** Canonical JSON of `meta`: the leaf. */
  leaf: Uint8Array;
  content?: Uint8Array;
  salt?: Uint8Array;
}

/** "field.path: message" for the first issue; unknown fields are named in the path. */
function zodMessage(e: z.ZodError, prefix = ""): string {
  const i = e.issues[0]!;
  const path = [prefix, ...i.path.map(String)];
  if (i.code === "unrecognized_keys") return `${[...path, i.keys[0]].filter(Boolean).join(".")}: unknown field`;
  return `${path.filter(Boolean).join(".") || "event"}: ${i.message}`;
}

function badEvent(field: string, e: unknown): TrailError {
  const why = isTrailError(e) ? e.message : "invalid";
  return new TrailError("bad-event", `${field}: ${why}`, { cause: e });
}

/** base64(SHA-256(salt || content)). */
export function commitment(salt: Uint8Array, content: Uint8Array): string {
  return base64Encode(sha256(concatBytes(salt, content)));
}

/** The leaf of an event: the UTF-8 of its canonical JSON, at most 65535 bytes. */
export function eventLeaf(meta: EventMeta): Uint8Array {
  let leaf: Uint8Array;
  try {
    leaf = utf8Encode(canonicalJson(meta));
  } catch (e) {
    throw badEvent("event", e);
  }
  check(leaf.length <= MAX_LEAF, "bad-event", `event: leaf of ${leaf.length} bytes exceeds ${MAX_LEAF}`);
  return leaf;
}

/** Validates a submitted event, checks its commitment and forms its leaf. */
export function parseSubmission(json: unknown): ParsedSubmission {
  const r = submissionSchema.safeParse(json);
  if (!r.success) throw new TrailError("bad-event", zodMessage(r.error));
  const { content, salt, enc, ...meta } = r.data;
  const leaf = eventLeaf(meta);
  if (!meta.payload) {
    for (const [k, v] of Object.entries({ content, salt, enc })) {
      check(v === undefined, "bad-event", `${k}: not allowed on ${meta.type} events`);
    }
    return { meta, leaf };
  }
  check(content !== undefined, "bad-event", `content: required on ${meta.type} events`);
  check(salt !== undefined, "bad-event", `salt: required on ${meta.type} events`);
  let bytes: Uint8Array;
  try {
    bytes = enc === "base64" ? base64Decode(content, "base64") : utf8Encode(content);
  } catch (e) {
    throw badEvent("content", e);
  }
  check(
    bytes.length <= MAX_CONTENT,
    "bad-event",
    `content: ${bytes.length} bytes exceed ${MAX_CONTENT}`,
  );
  const saltBytes = base64Decode(salt, "salt", 32); // the schema checked it
  check(
    meta.payload.size === bytes.length,
    "commitment-mismatch",
    `payload.size: ${meta.payload.size}, but the content has ${bytes.length} bytes`,
  );
  check(
    commitment(saltBytes, bytes) === meta.payload.sha256,
    "commitment-mismatch",
    "payload.sha256: does not commit to this content and salt",
  );
  if (meta.type === "command") parseCommandContent(bytes);
  return { meta, leaf, content: bytes, salt: saltBytes };
}

/** Strict JSON text of at most `max` bytes, parsed; "bad-event" naming `field` otherwise. */
function parseJsonBytes(bytes: Uint8Array, field: string, max: number): [unknown, string] {
  check(bytes instanceof Uint8Array, "bad-event", `${field}: not bytes`);
  check(bytes.length <= max, "bad-event", `${field}: ${bytes.length} bytes exceed ${max}`);
  try {
    const t = utf8Decode(bytes, field);
    return [JSON.parse(t), t];
  } catch (e) {
    throw badEvent(field, isTrailError(e) ? e : new TrailError("malformed", "not JSON"));
  }
}

function isCanonical(value: unknown, text: string): boolean {
  try {
    return canonicalJson(value) === text;
  } catch {
    return false;
  }
}

/** A command event's content: canonical JSON of {line, cwd, exit, start, end}. */
export function parseCommandContent(bytes: Uint8Array): CommandContent {
  const [v, t] = parseJsonBytes(bytes, "content", MAX_CONTENT);
  const r = commandContentSchema.safeParse(v);
  if (!r.success) throw new TrailError("bad-event", zodMessage(r.error, "content"));
  check(isCanonical(r.data, t), "bad-event", "content: not canonical JSON (RFC 8785)");
  return r.data;
}

/** Parses a stored leaf back into event metadata; the bytes must be exactly its canonical form. */
export function parseLeaf(bytes: Uint8Array): EventMeta {
  const [v, t] = parseJsonBytes(bytes, "leaf", MAX_LEAF);
  const r = eventMetaSchema.safeParse(v);
  if (!r.success) throw new TrailError("bad-event", zodMessage(r.error));
  check(isCanonical(r.data, t), "bad-event", "leaf: not canonical JSON (RFC 8785)");
  return r.data;
}

/**
 * Builds a submission (for agents and tests): the metadata, plus for content types the payload
 * commitment to `content` with `salt` (32 random bytes from the caller), the content as text when
 * it is valid UTF-8 and as base64 otherwise, and the salt. parseSubmission accepts the result.
 */
export function makeSubmission(
  meta: Omit<EventMeta, "payload">,
  content: Uint8Array | undefined,
  salt: Uint8Array,
): Submission {
  if (content === undefined) return { ...meta };
  check(salt instanceof Uint8Array && salt.length === 32, "bad-event", "salt: want 32 bytes");
  check(content.length <= MAX_CONTENT, "bad-event", `content: exceeds ${MAX_CONTENT} bytes`);
  const full = { ...meta, payload: { size: content.length, sha256: commitment(salt, content) } };
  let asText: string | undefined;
  try {
    asText = utf8Decode(content);
  } catch {
    asText = undefined;
  }
  return asText !== undefined
    ? { ...full, content: asText, salt: base64Encode(salt) }
    : { ...full, content: base64Encode(content), enc: "base64", salt: base64Encode(salt) };
}

/** A stream is one pane of one tmux server on one host: (host, server, pane). */
export function streamKey(meta: Pick<EventMeta, "host" | "server" | "pane">): string {
  return `${meta.host}\u0000${meta.server}\u0000${meta.pane}`;
}
