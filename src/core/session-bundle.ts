// Session bundles: one self-contained JSON document that proves what happened in a tmux session,
// checkable offline by `tmuxtrail verify-bundle` and by the browser UI. This module is the format:
// its schema (zod/mini; its messages: zod-messages.ts) and the parse that checks a document
// against it; the verification is session-bundle-verify.ts, the casts session-cast.ts (all pure
// and isomorphic, like the rest of src/core).
//
//   format      "tmuxtrail-session-bundle/v2" (what export writes; v1, without `last`, verifies)
//   origin      the log's origin
//   session     {id, host, server, session, user}
//   keys        {log, witnesses, quorum}: what the exporter checked it with (hints, not trust)
//   checkpoint  the cosigned checkpoint note every proof is against
//   events      [{index, leaf, payload: {salt, content} | null, proof}] in tree order; `leaf` is
//               the leaf's text (canonical JSON), content and salt are base64, `proof` is a
//               c2sp.org/tlog-proof@v1 text against `checkpoint`
//   erasures    the erasure events that explain every missing payload, in the same form
//   casts       {pane: asciicast v2 text}, regenerated from the events by verification
//   exported, pending   when it was made; events of the session newer than the checkpoint (left out)
//   last        (v2 only) the index of the session's last event in the log when it was exported;
//               below the checkpoint's size it must be the bundle's last event (so its inclusion
//               is proven), at or beyond it the bundle must count it as pending
//
// v3 ("tmuxtrail-session-bundle/v3", docs/design.md §2.10.1) proves the same with the checkpoint
// once and one multi-leaf inclusion proof per list (core/multi-proof.ts) instead of a tlog-proof
// per event: each event and erasure carries `gap`, the base64 hashes between the previous element
// of its list and itself, and `end` {events, erasures} the hashes after each list's last element.
// It may be a time window of the session (`window` {since?, until?}); its casts are optional.

import * as z from "zod/mini";
import { TrailError } from "./errors.ts";
import { issueText } from "./zod-messages.ts";

/** What export writes: v1 and the session's `last` index. v1 bundles still verify. */
export const BUNDLE_FORMAT = "tmuxtrail-session-bundle/v2";
export const BUNDLE_FORMAT_V1 = "tmuxtrail-session-bundle/v1";
/** One checkpoint, one multi-leaf proof per list, optional casts, time windows. */
export const BUNDLE_FORMAT_V3 = "tmuxtrail-session-bundle/v3";

const index = z.number().check(z.int(), z.minimum(0));

const sessionHeader = z.strictObject({
  id: z.string(),
  host: z.string(),
  server: z.string(),
  session: z.string(),
  user: z.string(),
});
const keysSchema = z.strictObject({
  log: z.string(),
  witnesses: z.array(z.string()),
  quorum: index,
});

const bundleEventSchema = z.strictObject({
  index,
  leaf: z.string(),
  payload: z.nullable(z.strictObject({ salt: z.string(), content: z.string() })),
  proof: z.string(),
});

export const sessionBundleSchema = z
  .strictObject({
    format: z.enum([BUNDLE_FORMAT_V1, BUNDLE_FORMAT]),
    origin: z.string(),
    session: sessionHeader,
    keys: keysSchema,
    checkpoint: z.string(),
    events: z.array(bundleEventSchema),
    erasures: z.array(bundleEventSchema),
    casts: z.record(z.string(), z.string()),
    exported: z.string(),
    pending: index,
    last: z.optional(index),
  })
  .check(
    z.refine((b) => (b.format === BUNDLE_FORMAT) === (b.last !== undefined), {
      path: ["last"],
      message: `present in ${BUNDLE_FORMAT} bundles, and only in them`,
    }),
  );

const hashes = z.array(z.string());
const bundleEventV3Schema = z.strictObject({
  index,
  leaf: z.string(),
  payload: z.nullable(z.strictObject({ salt: z.string(), content: z.string() })),
  gap: hashes,
});

export const sessionBundleV3Schema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT_V3),
  origin: z.string(),
  session: sessionHeader,
  keys: keysSchema,
  checkpoint: z.string(),
  window: z.optional(
    z.strictObject({ since: z.optional(z.string()), until: z.optional(z.string()) }),
  ),
  exported: z.string(),
  pending: index,
  last: index,
  events: z.array(bundleEventV3Schema),
  erasures: z.array(bundleEventV3Schema),
  end: z.strictObject({ events: hashes, erasures: hashes }),
  casts: z.optional(z.record(z.string(), z.string())),
});

/** A v1 or v2 bundle: a tlog-proof per event. */
export type SessionBundle = z.infer<typeof sessionBundleSchema>;
export type BundleEvent = z.infer<typeof bundleEventSchema>;
export type SessionBundleV3 = z.infer<typeof sessionBundleV3Schema>;
export type BundleEventV3 = z.infer<typeof bundleEventV3Schema>;
/** What parseSessionBundle accepts. */
export type AnySessionBundle = SessionBundle | SessionBundleV3;

/** Checks a parsed JSON value is a bundle; throws TrailError("malformed") naming the bad field. */
export function parseSessionBundle(value: unknown): AnySessionBundle {
  const v3 = (value as { format?: unknown } | null)?.format === BUNDLE_FORMAT_V3;
  const r = v3 ? sessionBundleV3Schema.safeParse(value) : sessionBundleSchema.safeParse(value);
  if (!r.success) {
    throw new TrailError(
      "malformed",
      `not a ${v3 ? BUNDLE_FORMAT_V3 : BUNDLE_FORMAT} document: ${issueText(r.error, "bundle")}`,
    );
  }
  return r.data;
}
