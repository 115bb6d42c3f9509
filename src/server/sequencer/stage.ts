// Step 2 of a batch, no lock: the entry bytes and payloads of the leaves to append, keyed by leaf
// hash, INSERT … ON CONFLICT DO NOTHING, committed before any index exists. Content-addressed, so
// a retry or a concurrent writer of the same leaf is harmless; staged rows are not in the tree
// (only step 3's leaves rows are), and retention clears content that never made it in.

import type { Sql } from "../../db/sql.ts";
import { packBytes, packHashes } from "../sql-arrays.ts";
import type { Claim } from "./classify.ts";

export async function stage(sql: Sql, fresh: Claim[]): Promise<void> {
  if (fresh.length === 0) return;
  const leaves = packBytes(fresh.map((c) => c.input.leaf));
  const withPayload = fresh.filter((c) => c.input.payload);
  const contents = packBytes(withPayload.map((c) => c.input.payload!.content));
  await sql.begin(async (tx) => {
    await Promise.all([
      tx.query(
        `INSERT INTO entries (leaf_hash, leaf)
         SELECT substring($1::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32), substring($2::bytea FROM off + 1 FOR len)
           FROM unnest($3::int4[], $4::int4[]) WITH ORDINALITY AS t(off, len, o)
         ON CONFLICT DO NOTHING`,
        [packHashes(fresh.map((c) => c.input.leafHash)), leaves.blob, leaves.offs, leaves.lens],
      ),
      withPayload.length === 0
        ? Promise.resolve()
        : tx.query(
            `INSERT INTO payloads (leaf_hash, salt, content)
             SELECT substring($1::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32),
                    substring($2::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32),
                    substring($3::bytea FROM off + 1 FOR len)
               FROM unnest($4::int4[], $5::int4[]) WITH ORDINALITY AS t(off, len, o)
             ON CONFLICT DO NOTHING`,
            [
              packHashes(withPayload.map((c) => c.input.leafHash)),
              packHashes(withPayload.map((c) => c.input.payload!.salt)),
              contents.blob,
              contents.offs,
              contents.lens,
            ],
          ),
    ]);
  });
}
