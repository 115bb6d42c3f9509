// The witness's active side: following logs that have a URL (poll /checkpoint, compare it with
// what was cosigned through the log's own tiles, cosign through the same add-checkpoint path) and
// gossip with peer witnesses (fetch their latest cosigned checkpoint per origin and compare it
// with ours). Comparisons of different sizes go through tile-check.ts under rule 1 of DESIGN
// section 6: only a proof that reproduces the larger signed root and implies another smaller root
// is a fork (stored, alerted; the witness cosigns nothing further for that log). Tiles that do not
// reproduce a signed root are a lying or broken tile server: counted in
// tmuxtrail_witness_bad_tiles_total, logged, nothing cosigned, retried at the next poll.
// Once evidence is held for a log, it is neither followed nor gossiped: nothing is cosigned and
// nothing more is recorded for it.

import { fetchCheckpoint, fetchText } from "../client/tlog-http.ts";
import { type OpenedCheckpoint, openCheckpoint } from "../log/checkpoint.ts";
import { base64Encode, bytesEqual, hexEncode, utf8Encode } from "../log/encoding.ts";
import { type Hash, sha256 } from "../log/hash.ts";
import { formatAddCheckpoint } from "../log/tlog-witness.ts";
import {
  addCheckpoint,
  logSignedNote,
  type WitnessDeps,
  type WitnessedLog,
} from "./add-checkpoint.ts";
import { recordEvidence } from "./evidence.ts";
import { hasEvidence, readState } from "./store.ts";
import { compareThroughTiles, type TileComparison } from "./tile-check.ts";

export const originHash = (origin: string) => hexEncode(sha256(utf8Encode(origin)));

/** compareThroughTiles, counting an unreachable log. */
async function viaTiles(
  deps: WitnessDeps,
  log: WitnessedLog & { url: string },
  small: { size: number; root: Hash },
  big: { size: number; root: Hash },
): Promise<TileComparison> {
  try {
    return await compareThroughTiles(log.url, small, big, deps.hasher);
  } catch (e) {
    deps.metrics.unreachable.inc({ origin: log.origin });
    throw new Error(`reading the hash tiles at size ${big.size}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Active mode, one round for one log: cosign its newest checkpoint if consistent with ours. */
export async function followLog(
  deps: WitnessDeps,
  log: WitnessedLog,
  logLine: (m: string) => void,
): Promise<void> {
  const { url, origin } = log;
  if (!url) return;
  if (await hasEvidence(deps.sql, origin)) return;
  let note: string;
  try {
    note = await fetchCheckpoint(url);
  } catch (e) {
    deps.metrics.unreachable.inc({ origin });
    throw e;
  }
  const opened = openCheckpoint(note, log.verifiers, [], 0, origin);
  const cp = opened.checkpoint;
  const state = await readState(deps.sql, origin);
  const old = state?.size ?? 0;
  if (state && cp.size <= old) {
    if (cp.size === old && !bytesEqual(cp.root, state.root)) {
      await addCheckpoint(deps, formatAddCheckpoint({ old, proof: [], checkpoint: note })); // records the fork
    }
    return;
  }
  let proof: Hash[] = [];
  if (state && old > 0) {
    const c = await viaTiles(deps, { ...log, url }, state, cp);
    if (c.kind === "bad-tiles") {
      deps.metrics.badTiles.inc({ origin });
      logLine(
        `following ${origin}: not cosigning size ${cp.size}: ${c.reason}. A lying or broken tile server (or a man in the middle), not a fork; trying again at the next poll`,
      );
      return;
    }
    if (c.kind === "fork") {
      await recordEvidence(deps, log, {
        origin,
        kind: "inconsistent",
        notes: [state.note, logSignedNote(opened)],
        proof: c.proof.map(base64Encode),
        detail: `the log's tiles reproduce its signed root of size ${cp.size} and show another tree at the cosigned size ${old}`,
      });
      return;
    }
    proof = c.proof;
  }
  const r = await addCheckpoint(deps, formatAddCheckpoint({ old, proof, checkpoint: note }));
  if (r.status !== 200 && r.status !== 409) {
    logLine(`following ${origin}: ${r.status} ${r.message}`);
  }
}

/** One gossip round with one peer for one log. */
export async function gossipWith(
  deps: WitnessDeps,
  peer: string,
  log: WitnessedLog,
  logLine: (m: string) => void = () => {},
): Promise<void> {
  if (await hasEvidence(deps.sql, log.origin)) return;
  let note: string;
  try {
    note = await fetchText(`${peer.replace(/\/+$/, "")}/${originHash(log.origin)}/checkpoint`);
  } catch {
    return; // the peer has nothing for this log, or is down
  }
  let opened: OpenedCheckpoint;
  try {
    opened = openCheckpoint(note, log.verifiers, [], 0, log.origin);
  } catch {
    return; // not signed by the log: not evidence of anything
  }
  const theirs = { size: opened.checkpoint.size, root: opened.checkpoint.root };
  const theirNote = logSignedNote(opened);
  const state = await readState(deps.sql, log.origin);
  if (!state) return;
  if (theirs.size === state.size) {
    if (!bytesEqual(theirs.root, state.root)) {
      await recordEvidence(deps, log, {
        origin: log.origin,
        kind: "same-size-different-root",
        notes: [state.note, theirNote],
        detail: `peer ${peer} holds a checkpoint of size ${theirs.size} with another root`,
      });
    }
    return;
  }
  if (!log.url) return; // different sizes: only the log's tiles can tell
  const [small, big, smallNote, bigNote] =
    theirs.size < state.size
      ? [theirs, state, theirNote, state.note]
      : [state, theirs, state.note, theirNote];
  if (small.size === 0) return;
  const c = await viaTiles(deps, { ...log, url: log.url }, small, big);
  if (c.kind === "bad-tiles") {
    deps.metrics.badTiles.inc({ origin: log.origin });
    logLine(
      `gossip with ${peer} about ${log.origin}: ${c.reason}. Either the tile server is lying or broken, or the log signed another tree of size ${big.size}; not evidence`,
    );
    return;
  }
  if (c.kind === "fork") {
    await recordEvidence(deps, log, {
      origin: log.origin,
      kind: "inconsistent",
      notes: [smallNote, bigNote],
      proof: c.proof.map(base64Encode),
      detail: `checkpoints of size ${small.size} and ${big.size} (one from peer ${peer}) are not consistent: the log's tiles reproduce the larger and show another tree at the smaller size`,
    });
  }
}
