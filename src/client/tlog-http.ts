// Reading a log over its public C2SP tlog-tiles API: the checkpoint and hash tiles, and proofs
// rebuilt from those tiles (never taken from the log's JSON proof endpoints). Used by witnesses
// and auditors; a log whose proof API lies cannot fool them.

import { check } from "../log/errors.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { consistencyProof, treeRoot } from "../log/proof.ts";
import { type TileFetcher, tileNodeReader } from "../log/tile-reader.ts";
import { hashTilePath } from "../log/tiles.ts";

function join(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path}`;
}

export async function fetchText(url: string, timeoutMs = 10_000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

export function fetchCheckpoint(logUrl: string): Promise<string> {
  return fetchText(join(logUrl, "checkpoint"));
}

/** Fetches hash tiles; falls back to the full tile when a partial one is gone (tlog-tiles). */
export function httpTileFetcher(logUrl: string): TileFetcher {
  return async (level, index, width) => {
    for (const w of width < 256 ? [width, 256] : [256]) {
      const res = await fetch(join(logUrl, hashTilePath({ level, index, width: w })), {
        signal: AbortSignal.timeout(10_000),
      });
      if (res.ok) return new Uint8Array(await res.arrayBuffer());
      if (res.status !== 404) throw new Error(`tile ${level}/${index}: HTTP ${res.status}`);
    }
    check(false, "not-found", `hash tile ${hashTilePath({ level, index, width })} is not served`);
  };
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
