// What storage v2 holds (docs/design.md §4.9), read straight from the tables for tests that check
// or tamper with stored content: every batch decoded, not through BatchStore's cache.

import { bytesEqual } from "../../src/core/encoding.ts";
import {
  compress,
  decompress,
  frameContents,
  unframeContents,
  unframeLeaves,
} from "../../src/db/batch-codec.ts";
import type { Sql } from "../../src/db/sql.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";

/**
 * Every place the content of the leaf `leafHash` is stored: any batch slot holding that leaf with
 * a payload (the tree's slot, or one a retry staged), and its command_payloads row.
 */
export async function contentCopies(sql: Sql, leafHash: Uint8Array): Promise<string[]> {
  const found: string[] = [];
  const rows = await sql.query<{
    id: number;
    codec: number;
    leaves: Uint8Array;
    contents: Uint8Array;
  }>("SELECT id, codec, leaves, contents FROM batches ORDER BY id");
  for (const r of rows) {
    const leaves = unframeLeaves(await decompress(r.leaves, r.codec));
    const payloads = unframeContents(await decompress(r.contents, r.codec));
    for (const [slot, leaf] of leaves.entries()) {
      if (payloads[slot] && bytesEqual(nodeHasher.leaf(leaf), leafHash)) {
        found.push(`batch ${r.id} slot ${slot}`);
      }
    }
  }
  const commands = await sql.query("SELECT 1 FROM command_payloads WHERE leaf_hash = $1", [
    leafHash,
  ]);
  if (commands.length > 0) found.push("command_payloads");
  return found;
}

/** Rows and stored payloads: batches, their slots, the slots holding a payload, command contents. */
export async function storedCounts(
  sql: Sql,
): Promise<{ batches: number; slots: number; payloads: number; commands: number }> {
  const rows = await sql.query<{ codec: number; count: number; contents: Uint8Array }>(
    "SELECT codec, count, contents FROM batches",
  );
  let slots = 0;
  let payloads = 0;
  for (const r of rows) {
    slots += r.count;
    payloads += unframeContents(await decompress(r.contents, r.codec)).filter(Boolean).length;
  }
  const [c] = await sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM command_payloads");
  return { batches: rows.length, slots, payloads, commands: Number(c!.n) };
}

/**
 * A superuser's edit of the stored content of the leaf at `index` (salt kept), written as
 * erasure writes a batch: the contents part rewritten and its version bumped, so that every
 * reader, cached or not, serves the edit.
 */
export async function alterContent(sql: Sql, index: number, content: Uint8Array): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    const [r] = await tx.query<{ id: number; slot: number; codec: number; contents: Uint8Array }>(
      `SELECT b.id, l.slot, b.codec, b.contents FROM leaves l JOIN batches b ON b.id = l.batch
        WHERE l.idx = $1 FOR UPDATE OF b`,
      [index],
    );
    if (!r) throw new Error(`no batch holds leaf ${index}`);
    const payloads = unframeContents(await decompress(r.contents, r.codec));
    const p = payloads[r.slot];
    if (!p) throw new Error(`leaf ${index} has no stored content to alter`);
    payloads[r.slot] = { salt: p.salt, content };
    await tx.query("UPDATE batches SET contents = $2, version = version + 1 WHERE id = $1", [
      r.id,
      await compress(frameContents(payloads), r.codec),
    ]);
  });
}
