// Fork evidence (DESIGN section 6): self-contained objects
//   {origin, kind, notes: [note A, note B], proof?, detail, detected}
// that anyone can re-check offline with only the log's verifier key:
//   - same-size-different-root: both notes carry a valid log signature, for the same origin and
//     size, with different roots. Conclusive on its own.
//   - inconsistent: both notes are validly signed, A is smaller, and the consistency proof the
//     witness rebuilt from the log's own hash tiles at B's size does not lead from A's root to B's.
//     The signed notes show what the log claimed; anyone can fetch the tiles again to confirm.

import { type Checkpoint, openCheckpoint } from "../log/checkpoint.ts";
import { base64Decode, bytesEqual } from "../log/encoding.ts";
import { check, isTrailError, TrailError } from "../log/errors.ts";
import type { Verifier } from "../log/keys.ts";
import { verifyConsistency } from "../log/proof.ts";
import type { Evidence } from "./store.ts";

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
  const proof = ev.proof.map((p) => base64Decode(p, "proof hash", 32));
  try {
    verifyConsistency(small.size, big.size, proof, small.root, big.root);
  } catch (err) {
    if (isTrailError(err))
      return { origin: ev.origin, kind: ev.kind, sizes: [small.size, big.size] };
    throw err;
  }
  throw new TrailError(
    "proof-mismatch",
    `the proof shows size ${small.size} and ${big.size} are consistent: no fork`,
  );
}
