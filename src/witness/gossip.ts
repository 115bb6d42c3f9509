// The witness's active side: following logs that have a URL (poll /checkpoint, rebuild the
// consistency proof from the log's own tiles, cosign through the same add-checkpoint path) and
// gossip with peer witnesses (fetch their latest cosigned checkpoint per origin and compare it
// with ours). Two validly log-signed checkpoints that are inconsistent are a fork: evidence is
// stored, alerted, and the witness cosigns nothing further for that log.

import { consistencyFromTiles, fetchCheckpoint, fetchText } from "../client/tlog-http.ts";
import { openCheckpoint } from "../log/checkpoint.ts";
import { base64Encode, bytesEqual, hexEncode, utf8Encode } from "../log/encoding.ts";
import { isTrailError } from "../log/errors.ts";
import { sha256 } from "../log/hash.ts";
import { verifyConsistency } from "../log/proof.ts";
import { formatAddCheckpoint } from "../log/tlog-witness.ts";
import { addCheckpoint, type WitnessDeps, type WitnessedLog } from "./add-checkpoint.ts";
import { addEvidence, readState } from "./store.ts";

export const originHash = (origin: string) => hexEncode(sha256(utf8Encode(origin)));

/** Active mode, one round for one log: cosign its newest checkpoint if consistent with ours. */
export async function followLog(
  deps: WitnessDeps,
  log: WitnessedLog,
  logLine: (m: string) => void,
): Promise<void> {
  if (!log.url) return;
  const note = await fetchCheckpoint(log.url);
  const cp = openCheckpoint(note, log.verifiers, [], 0, log.origin).checkpoint;
  const state = await readState(deps.sql, log.origin);
  const old = state?.size ?? 0;
  if (state && cp.size <= old) {
    if (cp.size === old && !bytesEqual(cp.root, state.root)) {
      await addCheckpoint(deps, formatAddCheckpoint({ old, proof: [], checkpoint: note })); // records the fork
    }
    return;
  }
  const proof = old === 0 ? [] : await consistencyFromTiles(log.url, old, cp.size, deps.hasher);
  const r = await addCheckpoint(deps, formatAddCheckpoint({ old, proof, checkpoint: note }));
  if (r.status === 422 && state) {
    // The log's own tiles do not lead from what we cosigned to what it signs now.
    const detail = `the log's tiles at size ${cp.size} are not consistent with the cosigned size ${old}: ${r.message}`;
    if (
      await addEvidence(deps.sql, {
        origin: log.origin,
        kind: "inconsistent",
        notes: [state.note, note],
        proof: proof.map(base64Encode),
        detail,
      })
    ) {
      deps.onEvidence?.(log.origin, detail);
    }
  } else if (r.status !== 200 && r.status !== 409) {
    logLine(`following ${log.origin}: ${r.status} ${"message" in r ? r.message : ""}`);
  }
}

/** One gossip round with one peer for one log. */
export async function gossipWith(
  deps: WitnessDeps,
  peer: string,
  log: WitnessedLog,
): Promise<void> {
  let note: string;
  try {
    note = await fetchText(`${peer.replace(/\/+$/, "")}/${originHash(log.origin)}/checkpoint`);
  } catch {
    return; // the peer has nothing for this log, or is down
  }
  let theirs: ReturnType<typeof openCheckpoint>["checkpoint"];
  try {
    theirs = openCheckpoint(note, log.verifiers, [], 0, log.origin).checkpoint;
  } catch {
    return; // not signed by the log: not evidence of anything
  }
  const state = await readState(deps.sql, log.origin);
  if (!state) return;
  if (theirs.size === state.size) {
    if (!bytesEqual(theirs.root, state.root)) {
      const detail = `peer ${peer} holds a checkpoint of size ${theirs.size} with another root`;
      if (
        await addEvidence(deps.sql, {
          origin: log.origin,
          kind: "same-size-different-root",
          notes: [state.note, note],
          detail,
        })
      ) {
        deps.onEvidence?.(log.origin, detail);
      }
    }
    return;
  }
  if (!log.url) return; // different sizes: only the log's tiles can tell
  const [small, big, smallNote, bigNote] =
    theirs.size < state.size
      ? [{ size: theirs.size, root: theirs.root }, state, note, state.note]
      : [state, { size: theirs.size, root: theirs.root }, state.note, note];
  if (small.size === 0) return;
  const proof = await consistencyFromTiles(log.url, small.size, big.size, deps.hasher);
  try {
    verifyConsistency(small.size, big.size, proof, small.root, big.root, deps.hasher);
  } catch (e) {
    if (!isTrailError(e)) throw e;
    const detail = `checkpoints of size ${small.size} and ${big.size} (one from peer ${peer}) are not consistent`;
    if (
      await addEvidence(deps.sql, {
        origin: log.origin,
        kind: "inconsistent",
        notes: [smallNote, bigNote],
        proof: proof.map(base64Encode),
        detail,
      })
    ) {
      deps.onEvidence?.(log.origin, detail);
    }
  }
}
