// Step 2 of a batch, no lock: the batch's bytes, as one row of `batches` (storage v2, docs/design.md
// §4.9): its leaves in one compressed part, its salts and contents in another (src/db/batch-codec.ts,
// compressed on the thread pool), and command events' contents again, uncompressed, in
// command_payloads for session search. Committed before any index exists; each claim learns its
// (batch, slot), which step 3 writes into its leaves row. A staged batch is not in the tree until
// step 3 marks it integrated: slots step 3 does not append (already in the tree, a conflict) are
// rewritten away there; a batch whose submissions failed is deleted (discardStaged), and one whose
// process died before step 3 is swept by erasure. Payloads of leaves already erased are not
// staged at all (looked up while the batch compresses), so a resubmission of an erased event
// never puts its content in a batch, even one that then fails.

import { hexEncode } from "../../core/encoding.ts";
import { CODEC, packBatch } from "../../db/batch-codec.ts";
import type { Sql } from "../../db/sql.ts";
import { packBytes, packHashes } from "../sql-arrays.ts";
import type { Claim } from "./classify.ts";

/** Step 2; returns the batch's id (undefined when nothing was fresh). */
export async function stage(sql: Sql, fresh: Claim[]): Promise<number | undefined> {
  if (fresh.length === 0) return undefined;
  const withPayload = fresh.filter((c) => c.input.payload);
  const [first, erasedRows] = await Promise.all([
    packBatch(fresh.map((c) => ({ leaf: c.input.leaf, payload: c.input.payload }))),
    withPayload.length === 0
      ? Promise.resolve([])
      : sql.query<{ leaf_hash: Uint8Array }>(
          "SELECT leaf_hash FROM erased_leaves WHERE leaf_hash = ANY($1::text[]::bytea[])",
          [withPayload.map((c) => `\\x${c.hash}`)],
        ),
  ]);
  let packed = first;
  let erased = new Set<string>();
  if (erasedRows.length > 0) {
    erased = new Set(erasedRows.map((r) => hexEncode(r.leaf_hash)));
    packed = await packBatch(
      fresh.map((c) => ({
        leaf: c.input.leaf,
        payload: erased.has(c.hash) ? null : c.input.payload,
      })),
    );
  }
  const commands = withPayload.filter(
    (c) => c.input.stream?.type === "command" && !erased.has(c.hash),
  );
  const insertBatch = (tx: Sql) =>
    tx.query<{ id: number }>(
      "INSERT INTO batches (codec, count, leaves, contents) VALUES ($1, $2, $3, $4) RETURNING id",
      [CODEC, packed.count, packed.leaves, packed.contents],
    );
  let rows: { id: number }[];
  if (commands.length === 0) rows = await insertBatch(sql);
  else {
    const contents = packBytes(commands.map((c) => c.input.payload!.content));
    rows = await sql.begin(async (tx) => {
      const [batch] = await Promise.all([
        insertBatch(tx),
        tx.query(
          `INSERT INTO command_payloads (leaf_hash, content)
           SELECT substring($1::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32), substring($2::bytea FROM off + 1 FOR len)
             FROM unnest($3::int4[], $4::int4[]) WITH ORDINALITY AS t(off, len, o)
           ON CONFLICT DO NOTHING`,
          [
            packHashes(commands.map((c) => c.input.leafHash)),
            contents.blob,
            contents.offs,
            contents.lens,
          ],
        ),
      ]);
      return batch;
    });
  }
  const batch = rows[0]!.id;
  for (const [slot, c] of fresh.entries()) c.at = { batch, slot };
  return batch;
}

/**
 * Deletes staged batches whose submissions failed (never integrated: the triggers refuse the
 * rest, and the filter skips them), so their content does not wait for erasure's sweep. Best
 * effort: a batch left behind (this fails too, or the process dies first) is the sweep's.
 */
export async function discardStaged(sql: Sql, batches: readonly number[]): Promise<void> {
  if (batches.length === 0) return;
  await sql
    .query("DELETE FROM batches WHERE id = ANY($1::int8[]) AND NOT integrated", [batches])
    .catch(() => {});
}
