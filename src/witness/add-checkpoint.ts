// C2SP tlog-witness POST /add-checkpoint, with the order of checks of docs/design.md §6.3 (the
// spec's main branch after #280: a same-size different root is 422, not 409):
//
//   1. malformed body or over limits ........................................... 400
//   2. unknown origin .......................................................... 404
//   3. no valid signature by a trusted key, or a trusted key's bad signature .. 403
//   4. old > checkpoint size .................................................... 400
//   5. fork evidence recorded for this log: cosign nothing further .............. 422
//   6. old ≠ the size last cosigned (0 if never) ... 409, text/x.tlog.size "<size>\n"
//   6b. a peer's head for this log left uncompared past the reconcile deadline
//      (unreconciled.ts): cosign nothing beyond the size already cosigned .......... 503
//   7. size 0 without the empty root; a proof with old 0; a failing consistency
//      proof; the same size with a different root (recorded as fork evidence) .. 422
//      A failing proof is recorded as evidence only under rule 1 (evidence.ts): when it
//      reproduces the new signed root and implies another root at `old`. One that merely fails
//      (junk, a wrong tile) proves nothing and records nothing.
//   8. cosign (timestamp now, never 0), then compare-and-swap the state from `old` to the new
//      size, durably; only then answer 200 with the cosignature line. A lost race is a 409.
//
// What is kept and served is the checkpoint text, the log signatures that verified and this
// witness's cosignature: any other signature line of the body (unknown keys, other witnesses'
// cosignatures, a repeated log key) is dropped, never republished.

import { isPowerOfTwo } from "../core/bits.ts";
import { type OpenedCheckpoint, openCheckpoint, parseCheckpoint } from "../core/checkpoint.ts";
import { addSignatures, cosign } from "../core/cosignature.ts";
import { base64Encode, bytesEqual } from "../core/encoding.ts";
import { isTrailError, TrailError } from "../core/errors.ts";
import type { Hasher } from "../core/hash.ts";
import type { Signer, Verifier } from "../core/keys.ts";
import { splitNote } from "../core/note.ts";
import { verifyConsistency } from "../core/proof-verify.ts";
import { parseAddCheckpoint } from "../core/tlog-witness.ts";
import type { Sql } from "../db/sql.ts";
import { judgeConsistency, recordEvidence } from "./evidence.ts";
import type { WitnessMetrics } from "./metrics.ts";
import { compareAndSwap, hasEvidence, readState } from "./store.ts";
import { DEFAULT_RECONCILE_DEADLINE, holdingSince } from "./unreconciled.ts";

export interface WitnessedLog {
  origin: string;
  /** The log's note verifier keys (0x01). */
  verifiers: Verifier[];
  /** The log's base URL, for active mode and for checking gossiped checkpoints. */
  url?: string;
}

export interface WitnessDeps {
  sql: Sql;
  signer: Signer;
  logs: Map<string, WitnessedLog>;
  hasher: Hasher;
  metrics: WitnessMetrics;
  /** Unix seconds. */
  now: () => number;
  /** Fault injection for tests: runs after the state is durable and before the answer. */
  afterCommit?: () => void;
  onEvidence?: (origin: string, detail: string) => void;
  /** Seconds a peer's head may stay uncompared before cosigning is held (unreconciled.ts). */
  reconcileDeadline?: number;
  /** Called once when cosigning of a log becomes held. */
  onHold?: (origin: string, detail: string, held: boolean) => void;
}

export type AddResult =
  | { status: 200; cosignature: string; size: number }
  | { status: 409; size: number }
  | { status: 400 | 403 | 404 | 422 | 503; message: string };

const fail = (status: 400 | 403 | 404 | 422 | 503, message: string): AddResult => ({
  status,
  message,
});

/** A log-signed checkpoint as the witness keeps it: its text and the log signatures that verified. */
export function logSignedNote(opened: OpenedCheckpoint): string {
  return `${opened.text}\n${opened.logSignatureLines.join("")}`;
}

export async function addCheckpoint(deps: WitnessDeps, body: string): Promise<AddResult> {
  // 1. Syntax.
  let req: ReturnType<typeof parseAddCheckpoint>;
  let text: string;
  try {
    req = parseAddCheckpoint(body);
    text = splitNote(req.checkpoint).text;
    parseCheckpoint(text);
  } catch (e) {
    if (isTrailError(e)) return fail(400, e.message);
    throw e;
  }
  const origin = parseCheckpoint(text).origin;
  // 2. A log this witness follows.
  const log = deps.logs.get(origin);
  if (!log) return fail(404, `unknown log origin ${JSON.stringify(origin)}`);
  // 3. Signed by it.
  let opened: OpenedCheckpoint;
  try {
    opened = openCheckpoint(req.checkpoint, log.verifiers);
  } catch (e) {
    if (isTrailError(e)) return fail(403, `checkpoint not signed by a trusted key: ${e.message}`);
    throw e;
  }
  const cp = opened.checkpoint;
  const kept = logSignedNote(opened);
  // 4.
  if (req.old > cp.size)
    return fail(400, `old size ${req.old} is larger than the checkpoint size ${cp.size}`);
  // 5.
  if (await hasEvidence(deps.sql, origin)) {
    return fail(
      422,
      `fork evidence is recorded for ${origin}: this witness cosigns nothing further for it`,
    );
  }
  // 6.
  const state = await readState(deps.sql, origin);
  const latest = state?.size ?? 0;
  if (req.old !== latest) return { status: 409, size: latest };
  // 6b.
  if (cp.size > latest) {
    const deadline = deps.reconcileDeadline ?? DEFAULT_RECONCILE_DEADLINE;
    const open = await holdingSince(deps.sql, origin, deps.now(), deadline);
    if (open) {
      return fail(
        503,
        `cosigning of ${origin} beyond size ${latest} is held: the head of size ${open.peerSize ?? "unknown"} of peer ${open.peer} has not been compared with it for ${Math.floor(deps.now() - open.since)} s (${open.reason})`,
      );
    }
  }
  // 7.
  try {
    if (cp.size === 0 && !bytesEqual(cp.root, deps.hasher.emptyRoot())) {
      throw new TrailError("proof-mismatch", "a tree of size 0 must have the empty root");
    }
    if (req.old === 0) {
      if (req.proof.length > 0)
        throw new TrailError("bad-proof-length", "the proof must be empty when old is 0");
    } else if (req.old === cp.size) {
      if (req.proof.length > 0)
        throw new TrailError("bad-proof-length", "the proof must be empty for the same size");
      if (!bytesEqual(state!.root, cp.root)) {
        const detail = `two checkpoints of size ${cp.size} with different roots`;
        await recordEvidence(deps, log, {
          origin,
          kind: "same-size-different-root",
          notes: [state!.note, kept],
          detail,
        });
        throw new TrailError("proof-mismatch", detail);
      }
    } else {
      try {
        verifyConsistency(req.old, cp.size, req.proof, state!.root, cp.root, deps.hasher);
      } catch (e) {
        // For a power-of-two old size the RFC proof starts with our own root: it cannot show another.
        if (isTrailError(e) && !isPowerOfTwo(req.old)) {
          const verdict = judgeConsistency(state!, cp, req.proof, deps.hasher);
          if (verdict.kind === "fork") {
            await recordEvidence(deps, log, {
              origin,
              kind: "inconsistent",
              notes: [state!.note, kept],
              proof: req.proof.map(base64Encode),
              detail: `a consistency proof posted to add-checkpoint reproduces the signed root of size ${cp.size} and shows another tree at the cosigned size ${req.old}`,
            });
          }
        }
        throw e;
      }
    }
  } catch (e) {
    if (isTrailError(e)) return fail(422, e.message);
    throw e;
  }
  // 8. Cosign, store durably, answer.
  const line = cosign(text, deps.signer, Math.max(1, Math.floor(deps.now())));
  const note = addSignatures(kept, [line]);
  if (!(await compareAndSwap(deps.sql, origin, req.old, { size: cp.size, root: cp.root, note }))) {
    return { status: 409, size: (await readState(deps.sql, origin))?.size ?? 0 };
  }
  deps.afterCommit?.();
  return { status: 200, cosignature: line, size: cp.size };
}
