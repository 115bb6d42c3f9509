// Reading the tree back from the tile rows: node hashes for proofs and roots at any published size.
// The same tile logic the auditors run over HTTP (src/log/tile-reader.ts), fed from the database.

import type { Sql } from "../db/client.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { consistencyProof, inclusionProof, type NodeReader, treeRoot } from "../log/proof.ts";
import { tileNodeReader } from "../log/tile-reader.ts";
import { readTile } from "./tile-store.ts";

export class TileMissingError extends Error {
  constructor(level: number, idx: number, width: number) {
    super(`hash tile ${level}/${idx} (width ${width}) is missing from storage`);
    this.name = "TileMissingError";
  }
}

/** A NodeReader over the stored tiles, for nodes complete in a tree of `size` leaves. */
export function dbNodeReader(sql: Sql, size: number, hasher: Hasher): NodeReader {
  return tileNodeReader(
    size,
    async (level, idx, width) => {
      const t = await readTile(sql, level, idx, width);
      if (!t) throw new TileMissingError(level, idx, width);
      return t;
    },
    hasher,
  );
}

export function rootAt(sql: Sql, size: number, hasher: Hasher): Promise<Hash> {
  return treeRoot(size, dbNodeReader(sql, size, hasher), hasher);
}

export function proveInclusion(sql: Sql, index: number, size: number, hasher: Hasher) {
  return inclusionProof(index, size, dbNodeReader(sql, size, hasher), hasher);
}

export function proveConsistency(sql: Sql, from: number, to: number, hasher: Hasher) {
  return consistencyProof(from, to, dbNodeReader(sql, to, hasher), hasher);
}
