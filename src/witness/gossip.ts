// The witness's active side: following logs that have a URL (poll /checkpoint, compare it with
// what was cosigned through the log's own tiles, cosign through the same add-checkpoint path, then
// keep the log's hash tiles bound to what was cosigned, tile-store.ts) and gossip with peer
// witnesses (fetch their latest cosigned checkpoint per origin and compare it with ours).
//
// Comparisons of different sizes go through tile-check.ts under rule 1 of docs/design.md §2.11:
// only a proof that reproduces the larger signed root and implies another smaller root is a fork
// (stored, alerted; the witness cosigns nothing further for that log). The tiles at the larger
// size are read from whoever holds that head, then from the log:
//   our head is larger     this witness's stored tiles, then the log's
//   the peer's is larger   the peer's tiles (/<hex SHA-256(origin)>/tile/...), then the log's
// A log that shows W1 one tree and W2 another at different sizes is caught by the witness holding
// the larger head even when it withholds its tiles: that witness kept the tiles of its own view.
// Tiles that do not reproduce a signed root are a lying or broken server: counted in
// tmuxtrail_witness_bad_tiles_total, logged, never evidence, and the next source is tried.
//
// A comparison that cannot be completed is never dropped, nor settled on the hope that the peer
// completes it (it may not gossip with us at all): unreconciled.ts counts, logs and alerts it.
// When the peer served a head signed by the log that no source let us compare (our head is the
// larger and neither our kept tiles nor the log's serve it, or the peer's is the larger and
// neither the peer's tiles nor the log's do), cosigning beyond our head is held past the reconcile
// deadline. A peer that is unreachable or serves no valid checkpoint names no head: it is counted,
// logged and alerted past the deadline, never a hold, so no one peer or network path can stop
// cosigning. Once evidence is held for a log, it is
// neither followed nor gossiped: nothing is cosigned and nothing more is recorded for it.

import { fetchCheckpoint, fetchText, httpTileFetcher } from "../client/log-source.ts";
import { type OpenedCheckpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, bytesEqual, hexEncode, utf8Encode } from "../core/encoding.ts";
import { isTrailError } from "../core/errors.ts";
import { type Hash, sha256 } from "../core/hash.ts";
import type { TileFetcher } from "../core/tile-reader.ts";
import { formatAddCheckpoint } from "../core/tlog-witness.ts";
import {
  addCheckpoint,
  logSignedNote,
  type WitnessDeps,
  type WitnessedLog,
} from "./add-checkpoint.ts";
import { recordEvidence } from "./evidence.ts";
import { hasEvidence, readState } from "./store.ts";
import { compareThroughTiles, type TileComparison } from "./tile-check.ts";
import { storedTileFetcher, syncTiles } from "./tile-store.ts";
import {
  clearUnreconciled,
  DEFAULT_RECONCILE_DEADLINE,
  holds,
  markUnreconciled,
} from "./unreconciled.ts";

export const originHash = (origin: string) => hexEncode(sha256(utf8Encode(origin)));

/** Where a witness serves its checkpoint and tiles for `origin`: /<hex SHA-256(origin)>. */
export const witnessLogUrl = (witness: string, origin: string) =>
  `${witness.replace(/\/+$/, "")}/${originHash(origin)}`;

/** Per witness, the (origin, peer) holds already alerted, so each is alerted once. */
const alerted = new WeakMap<WitnessDeps, Set<string>>();

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** compareThroughTiles, counting an unreachable log. */
async function viaTiles(
  deps: WitnessDeps,
  log: WitnessedLog & { url: string },
  small: { size: number; root: Hash },
  big: { size: number; root: Hash },
): Promise<TileComparison> {
  try {
    return await compareThroughTiles(httpTileFetcher(log.url), small, big, deps.hasher);
  } catch (e) {
    deps.metrics.unreachable.inc({ origin: log.origin });
    throw new Error(`reading the hash tiles at size ${big.size}: ${message(e)}`, { cause: e });
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
      return;
    }
    return keepTiles(deps, { ...log, url }, logLine);
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
  await keepTiles(deps, { ...log, url }, logLine);
}

/** One tile-store round at the cosigned head; a failure is logged and retried next poll. */
async function keepTiles(
  deps: WitnessDeps,
  log: WitnessedLog & { url: string },
  logLine: (m: string) => void,
): Promise<void> {
  const state = await readState(deps.sql, log.origin);
  if (!state) return;
  try {
    await syncTiles(deps.sql, log.origin, state, httpTileFetcher(log.url), deps.hasher);
  } catch (e) {
    if (isTrailError(e) && e.code !== "not-found")
      deps.metrics.badTiles.inc({ origin: log.origin });
    else deps.metrics.unreachable.inc({ origin: log.origin });
    logLine(`keeping the hash tiles of ${log.origin} at size ${state.size}: ${message(e)}`);
  }
}

/** One gossip round with one peer for one log. */
export async function gossipWith(
  deps: WitnessDeps,
  peer: string,
  log: WitnessedLog,
  logLine: (m: string) => void = () => {},
): Promise<void> {
  const origin = log.origin;
  const key = `${origin}\n${peer}`;
  const seen = alerted.get(deps) ?? alerted.set(deps, new Set()).get(deps)!;
  const settled = () => {
    seen.delete(`${key}\ntrue`);
    seen.delete(`${key}\nfalse`);
    return clearUnreconciled(deps.sql, origin, peer);
  };
  const unsettled = async (peerSize: number | null, reason: string) => {
    const now = deps.now();
    const row = await markUnreconciled(deps.sql, { origin, peer, peerSize, reason }, now);
    const deadline = deps.reconcileDeadline ?? DEFAULT_RECONCILE_DEADLINE;
    const held = holds(row, now, deadline);
    const late = row.since + deadline <= now;
    logLine(
      `gossip with ${peer} about ${origin}: UNRECONCILED for ${Math.floor(now - row.since)} s: ${reason}${held ? "; cosigning beyond our size is held until the comparison completes" : row.peerSize === null ? "; no head of the peer is known, so cosigning is not held" : ""}`,
    );
    // Alerted once per (origin, peer) and kind: a silent peer, then a held log.
    const k = `${key}\n${held}`;
    if (late && !seen.has(k)) {
      seen.add(k);
      deps.onHold?.(origin, `peer ${peer}: ${reason}`, held);
    }
  };
  if (await hasEvidence(deps.sql, origin)) return settled();
  const state = await readState(deps.sql, origin);
  if (!state) return settled(); // nothing cosigned here to compare
  let note: string;
  try {
    note = await fetchText(`${witnessLogUrl(peer, origin)}/checkpoint`);
  } catch (e) {
    // A peer that has cosigned nothing for this log has nothing to compare.
    if ((e as { status?: number }).status === 404 || /HTTP 404\b/.test(message(e)))
      return settled();
    return unsettled(null, `the peer is unreachable: ${message(e)}`);
  }
  let opened: OpenedCheckpoint;
  try {
    opened = openCheckpoint(note, log.verifiers, [], 0, origin);
  } catch (e) {
    return unsettled(null, `the peer serves no checkpoint signed by the log: ${message(e)}`);
  }
  const theirs = { size: opened.checkpoint.size, root: opened.checkpoint.root };
  const theirNote = logSignedNote(opened);
  if (theirs.size === state.size) {
    if (!bytesEqual(theirs.root, state.root)) {
      await recordEvidence(deps, log, {
        origin,
        kind: "same-size-different-root",
        notes: [state.note, theirNote],
        detail: `peer ${peer} holds a checkpoint of size ${theirs.size} with another root`,
      });
    }
    return settled();
  }
  const oursIsLarger = theirs.size < state.size;
  const [small, big, smallNote, bigNote] = oursIsLarger
    ? [theirs, state, theirNote, state.note]
    : [state, theirs, state.note, theirNote];
  if (small.size === 0) return settled();
  const sources: { name: string; fetch: TileFetcher; isLog?: true }[] = [
    oursIsLarger
      ? { name: "this witness's tiles", fetch: storedTileFetcher(deps.sql, origin) }
      : { name: `the peer's tiles`, fetch: httpTileFetcher(witnessLogUrl(peer, origin)) },
  ];
  if (log.url)
    sources.push({ name: "the log's tiles", fetch: httpTileFetcher(log.url), isLog: true });
  const failures: string[] = [];
  for (const s of sources) {
    let c: TileComparison;
    try {
      c = await compareThroughTiles(s.fetch, small, big, deps.hasher);
    } catch (e) {
      if (s.isLog) deps.metrics.unreachable.inc({ origin });
      failures.push(`${s.name} at size ${big.size}: ${message(e)}`);
      continue;
    }
    if (c.kind === "bad-tiles") {
      deps.metrics.badTiles.inc({ origin });
      logLine(
        `gossip with ${peer} about ${origin}: ${s.name}: ${c.reason}. Either that tile server is lying or broken, or the log signed another tree of size ${big.size}; not evidence`,
      );
      failures.push(`${s.name} at size ${big.size}: ${c.reason}`);
      continue;
    }
    if (c.kind === "fork") {
      await recordEvidence(deps, log, {
        origin,
        kind: "inconsistent",
        notes: [smallNote, bigNote],
        proof: c.proof.map(base64Encode),
        detail: `checkpoints of size ${small.size} and ${big.size} (one from peer ${peer}) are not consistent: ${s.name} reproduce the larger and show another tree at the smaller size`,
      });
    }
    return settled();
  }
  // Incomplete, whichever head is the larger: the peer may never gossip with us, so leaving the
  // comparison to it could leave a split view unseen by both.
  return unsettled(
    theirs.size,
    `our size ${state.size} and the peer's ${theirs.size} could not be compared: ${
      failures.join("; ") || "no source of tiles (the log has no URL here)"
    }`,
  );
}
