// Fork evidence (docs/design.md §2.11): self-contained objects
//   {origin, kind, notes: [note A, note B], proof?, detail, detected}
// that anyone can re-check offline with only the log's verifier key. What proves a fork:
//   - same-size-different-root: both notes carry a valid log signature, for the same origin and
//     size, with different roots. Conclusive on its own.
//   - inconsistent: both notes are validly signed, 0 < size A < size B, and the proof (base64, in
//     the explicit form of src/core/proof-verify.ts: led by MTH(D[0:size A]) when size A is a power
//     of two) reproduces B's signed root exactly and implies, at size A, a root other than A's.
//     B's signature then commits to a history whose first size-A leaves are not the ones A's
//     signature commits to. Example: A = (7, R7), B = (12, R12); a proof whose hashes fold to R12
//     and to R7' ≠ R7 at size 7 proves the fork; one that folds to R7 proves the two consistent.
// A proof that merely fails proves nothing: lying tiles, a man in the middle or three junk hashes
// fail too. judgeConsistency is that rule, used by verify-evidence and by every place the witness
// compares two checkpoints; recordEvidence stores nothing that verifyEvidence refuses.

import { isPowerOfTwo } from "../core/bits.ts";
import { type Checkpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Decode, bytesEqual } from "../core/encoding.ts";
import { check, isTrailError, TrailError } from "../core/errors.ts";
import { type Hash, type Hasher, rfc6962 } from "../core/hash.ts";
import type { Verifier } from "../core/keys.ts";
import { explicitConsistencyProofLength, rootFromConsistencyProof } from "../core/proof-verify.ts";
import type { WitnessDeps, WitnessedLog } from "./add-checkpoint.ts";
import { addEvidence, type Evidence } from "./store.ts";

export type Verdict =
  | { kind: "consistent" }
  | { kind: "fork"; implied: Hash }
  | { kind: "proves-nothing"; reason: string };

/**
 * Rule 1 of docs/design.md §2.11 for two log-signed tree heads, 0 < small.size < big.size, and a
 * proof in explicit form: "fork" only when the proof reproduces big's root and implies another
 * root at small's size; "consistent" when it implies small's root; otherwise it proves nothing.
 */
export function judgeConsistency(
  small: { size: number; root: Hash },
  big: { size: number; root: Hash },
  proof: readonly Hash[],
  hasher: Hasher = rfc6962,
): Verdict {
  let implied: Hash;
  try {
    implied = rootFromConsistencyProof(small.size, big.size, proof, big.root, hasher);
  } catch (e) {
    if (!isTrailError(e)) throw e;
    const hint =
      e.code === "bad-proof-length" && isPowerOfTwo(small.size)
        ? ` (size ${small.size} is a power of two: the proof starts with MTH of the larger tree's first ${small.size} leaves)`
        : "";
    return { kind: "proves-nothing", reason: `${e.message}${hint}` };
  }
  return bytesEqual(implied, small.root) ? { kind: "consistent" } : { kind: "fork", implied };
}

export interface EvidenceCheck {
  origin: string;
  kind: string;
  sizes: [number, number];
}

/** Re-checks one piece of evidence; throws TrailError when it does not prove a fork. */
export function verifyEvidence(e: unknown, logVerifiers: readonly Verifier[]): EvidenceCheck {
  check(typeof e === "object" && e !== null, "malformed", "evidence is not an object");
  const ev = e as Partial<Evidence>;
  check(typeof ev.origin === "string", "malformed", "evidence has no origin");
  check(
    ev.kind === "same-size-different-root" || ev.kind === "inconsistent",
    "malformed",
    "unknown evidence kind",
  );
  check(Array.isArray(ev.notes) && ev.notes.length === 2, "malformed", "evidence needs two notes");
  const [a, b] = ev.notes.map((n) => {
    check(typeof n === "string", "malformed", "a note is not text");
    return openCheckpoint(n, logVerifiers, [], 0, ev.origin).checkpoint;
  }) as [Checkpoint, Checkpoint];
  if (ev.kind === "same-size-different-root") {
    check(
      a.size === b.size,
      "proof-mismatch",
      `the checkpoints have different sizes (${a.size}, ${b.size})`,
    );
    check(
      !bytesEqual(a.root, b.root),
      "proof-mismatch",
      `the two checkpoints of size ${a.size} agree`,
    );
    return { origin: ev.origin, kind: ev.kind, sizes: [a.size, b.size] };
  }
  check(Array.isArray(ev.proof), "malformed", "inconsistency evidence needs a proof");
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  check(
    small.size > 0 && small.size < big.size,
    "malformed",
    "inconsistency evidence needs two different non-zero sizes",
  );
  const want = explicitConsistencyProofLength(small.size, big.size);
  check(
    ev.proof.length === want,
    "bad-proof-length",
    `the proof from ${small.size} to ${big.size} has ${ev.proof.length} hashes, want ${want}${
      isPowerOfTwo(small.size)
        ? ` (size ${small.size} is a power of two: the first is MTH of the larger tree's first ${small.size} leaves)`
        : ""
    }`,
  );
  const proof = ev.proof.map((p, i) => base64Decode(p, `proof hash ${i}`, 32));
  const verdict = judgeConsistency(small, big, proof);
  if (verdict.kind === "proves-nothing") {
    throw new TrailError(
      "proof-mismatch",
      `the proof does not reproduce the signed root of size ${big.size}, so it proves nothing (${verdict.reason})`,
    );
  }
  if (verdict.kind === "consistent") {
    throw new TrailError(
      "proof-mismatch",
      `the proof shows sizes ${small.size} and ${big.size} are consistent: no fork`,
    );
  }
  return { origin: ev.origin, kind: ev.kind, sizes: [small.size, big.size] };
}

/**
 * The one way evidence is stored: only what verifyEvidence accepts with this log's keys (a
 * TrailError otherwise, and nothing is stored); alerts once when the pair of notes is new.
 */
export async function recordEvidence(
  deps: WitnessDeps,
  log: WitnessedLog,
  e: Omit<Evidence, "detected">,
): Promise<boolean> {
  verifyEvidence(e, log.verifiers);
  const added = await addEvidence(deps.sql, e);
  if (added) deps.onEvidence?.(e.origin, e.detail);
  return added;
}
