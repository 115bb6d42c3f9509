// Lying logs for the verifier tests: an HTTP proxy in front of a real log that can rewrite any
// answer (one byte of a hash tile, a garbage proof), recording every path it was asked for; and
// a log written to a directory by hand, signed with a key the test holds, so a test can serve a
// forked or rolled-back tree that the real log would never produce.

import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { encodeBundle } from "../../src/core/bundle.ts";
import { formatCheckpoint } from "../../src/core/checkpoint.ts";
import { CompactRange } from "../../src/core/compact.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { tileRowFromLeafHashes } from "../../src/core/tile-reader.ts";
import { entriesPath, hashTilePath, TILE_WIDTH, tilesForSize } from "../../src/core/tiles.ts";

export interface Answer {
  status: number;
  body: Uint8Array;
}

export interface LyingProxy {
  url: string;
  /** Every path asked for, in order. */
  paths: string[];
  close(): Promise<void>;
}

/**
 * Forwards GETs to `target`; `lie` may replace an answer (return undefined to pass it on), at
 * once or later (a promise: to delay an answer).
 */
export async function lyingProxy(
  target: string,
  lie: (path: string, answer: Answer) => Answer | undefined | Promise<Answer | undefined> = () =>
    undefined,
): Promise<LyingProxy> {
  const paths: string[] = [];
  const server = createServer(async (req, res) => {
    const path = req.url ?? "/";
    paths.push(path);
    try {
      const headers: Record<string, string> = {};
      if (req.headers.authorization) headers.Authorization = req.headers.authorization;
      const up = await fetch(`${target}${path}`, { headers });
      const real = { status: up.status, body: new Uint8Array(await up.arrayBuffer()) };
      const answer = (await lie(path, real)) ?? real;
      res.writeHead(answer.status, { "Content-Type": "application/octet-stream" });
      res.end(answer.body);
    } catch (e) {
      res.writeHead(502);
      res.end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A copy of `body` with byte `at` flipped. */
export function flipByte(body: Uint8Array, at: number): Uint8Array {
  const out = body.slice();
  out[at] = out[at]! ^ 0xff;
  return out;
}

/**
 * Writes the tlog-tiles files of the first `size` of `leaves` into `dir` (checkpoint signed with
 * `signerKey`, every hash tile and entry bundle at that size); returns the checkpoint note.
 */
export function writeTree(
  dir: string,
  leaves: readonly Uint8Array[],
  size: number,
  signerKey: string,
  origin: string,
): string {
  const hashes = leaves.slice(0, size).map((l) => rfc6962.leaf(l));
  const put = (path: string, data: Uint8Array | string) => {
    const file = join(dir, ...path.split("/"));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  };
  for (const t of tilesForSize(size)) {
    const row = tileRowFromLeafHashes(hashes, t.level).slice(
      t.index * TILE_WIDTH,
      t.index * TILE_WIDTH + t.width,
    );
    const data = new Uint8Array(row.length * 32);
    for (const [i, h] of row.entries()) data.set(h, i * 32);
    put(hashTilePath(t), data);
  }
  for (let b = 0; b * TILE_WIDTH < size; b++) {
    const width = Math.min(TILE_WIDTH, size - b * TILE_WIDTH);
    put(entriesPath(b, width), encodeBundle(leaves.slice(b * TILE_WIDTH, b * TILE_WIDTH + width)));
  }
  const range = CompactRange.empty();
  for (const h of hashes) range.append(h);
  const note = signNote(formatCheckpoint({ origin, size, root: range.root() }), [
    parseSignerKey(signerKey),
  ]);
  put("checkpoint", note);
  return note;
}

/** `n` distinct leaves; with `forkAt`, leaves from that index on differ (another history). */
export function makeLeaves(n: number, forkAt = n): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    new TextEncoder().encode(i < forkAt ? `leaf ${i}` : `forked leaf ${i}`),
  );
}
