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

import * as z from "zod/mini";
import { TrailError } from "./errors.ts";
import { issueText } from "./zod-messages.ts";

/** What export writes: v1 and the session's `last` index. v1 bundles still verify. */
export const BUNDLE_FORMAT = "tmuxtrail-session-bundle/v2";
export const BUNDLE_FORMAT_V1 = "tmuxtrail-session-bundle/v1";

const index = z.number().check(z.int(), z.minimum(0));

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
    session: z.strictObject({
      id: z.string(),
      host: z.string(),
      server: z.string(),
      session: z.string(),
      user: z.string(),
    }),
    keys: z.strictObject({ log: z.string(), witnesses: z.array(z.string()), quorum: index }),
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

export type SessionBundle = z.infer<typeof sessionBundleSchema>;
export type BundleEvent = z.infer<typeof bundleEventSchema>;

/** Checks a parsed JSON value is a bundle; throws TrailError("malformed") naming the bad field. */
export function parseSessionBundle(value: unknown): SessionBundle {
  const r = sessionBundleSchema.safeParse(value);
  if (!r.success) {
    throw new TrailError(
      "malformed",
      `not a ${BUNDLE_FORMAT} document: ${issueText(r.error, "bundle")}`,
    );
  }
  return r.data;
}
