// The quorum rule that makes a split view need colluding witnesses. A verifier that requires k of
// n witnesses' cosignatures accepts a checkpoint only if k of them cosigned it. A log showing two
// different trees to two groups of witnesses needs each group to reach k on its own; with 2k > n
// two groups of k among n witnesses share at least 2k − n ≥ 1 witness, and an honest witness
// cosigns only checkpoints consistent with what it already cosigned, so it cannot be in both.
// Example: n = 3, k = 2: any two groups of 2 share a witness; k = 1 lets {W1} see tree A and
// {W2} tree B. With 2k ≤ n only the witnesses' gossip stands between the log and a split view.
// The web UI (src/ui/trust.ts) shows the same words.

/** Why a quorum of k of n witnesses does not rule out a split view, or undefined (n = 0: none). */
export function quorumWarning(k: number, n: number): string | undefined {
  if (n <= 0 || 2 * k > n) return undefined;
  const need = Math.floor(n / 2) + 1;
  if (k <= 0) {
    return `a quorum of 0 of ${n} witnesses does not rule out a split view (no cosignature is required, so the log could show each reader another tree): require more than half, at least ${need}.`;
  }
  return `a quorum of ${k} of ${n} witnesses does not rule out a split view (the log could show two groups of ${k} witnesses two different trees): require more than half, at least ${need}.`;
}
