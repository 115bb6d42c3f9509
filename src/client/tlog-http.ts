// Reading a log over its public C2SP tlog-tiles API: the checkpoint and hash tiles, and proofs
// rebuilt from those tiles (never taken from the log's JSON proof endpoints). Used by witnesses
// (active polling, gossip with peers, tile checks) and by tests; a log whose proof API lies cannot
// fool them. Every read is one LogSource read (log-source.ts): capped, timed out, body included,
// with the one partial-to-full tile fallback.

import { TrailError } from "../log/errors.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { consistencyProof, treeRoot } from "../log/proof.ts";
import { type TileFetcher, tileNodeReader } from "../log/tile-reader.ts";
import { httpGet, READ_CAPS, READ_TIMEOUT_MS } from "./http-read.ts";
import { openLogSource } from "./log-source.ts";

/**
 * A signed note (a log's or a peer's checkpoint) at `url`, at most READ_CAPS.checkpoint bytes,
 * as strict UTF-8.
 */
export async function fetchText(url: string, timeoutMs = READ_TIMEOUT_MS): Promise<string> {
  const bytes = await httpGet(url, { maxBytes: READ_CAPS.checkpoint, timeoutMs });
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TrailError("malformed", `${url}: the note is not valid UTF-8`);
  }
}

export function fetchCheckpoint(logUrl: string, timeoutMs = READ_TIMEOUT_MS): Promise<string> {
  return openLogSource(logUrl, { timeoutMs }).checkpoint();
}

/** Fetches hash tiles; falls back to the full tile when a partial one is gone (tlog-tiles). */
export function httpTileFetcher(logUrl: string, timeoutMs = READ_TIMEOUT_MS): TileFetcher {
  const source = openLogSource(logUrl, { timeoutMs });
  return (level, index, width) => source.hashTile(level, index, width);
}

/** PROOF(from, to) rebuilt from the log's tiles at size `to`. */
export function consistencyFromTiles(
  logUrl: string,
  from: number,
  to: number,
  hasher: Hasher,
): Promise<Hash[]> {
  return consistencyProof(from, to, tileNodeReader(to, httpTileFetcher(logUrl), hasher), hasher);
}

export function rootFromTiles(logUrl: string, size: number, hasher: Hasher): Promise<Hash> {
  return treeRoot(size, tileNodeReader(size, httpTileFetcher(logUrl), hasher), hasher);
}
