// BatchStore (src/db/batch-store.ts): concurrent readers of a batch that is not cached yet share
// one read and one inflation of its leaves part, and a batch that is not stored fails each of them
// with MissingBatchError (none waits for ever, none is left unhandled).

import { afterEach, beforeEach, expect, it } from "vitest";
import { parseSubmission } from "../../src/core/events.ts";
import { BatchStore, MissingBatchError } from "../../src/db/batch-store.ts";
import type { Sql } from "../../src/db/sql.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";

let db: TestDb;
beforeEach(async () => {
  db = await openTestDb();
});
afterEach(() => db.close());

/** `sql`, counting the statements that read batches. */
function counting(sql: Sql): { sql: Sql; reads: () => number } {
  let n = 0;
  const wrapped: Sql = {
    kind: sql.kind,
    query: (text, params) => {
      if (/FROM batches/.test(text)) n++;
      return sql.query(text, params);
    },
    begin: (fn) => sql.begin(fn),
    close: () => sql.close(),
  };
  return { sql: wrapped, reads: () => n };
}

it("ten concurrent reads of an uncached batch read and inflate its leaves part once", async () => {
  const seq = new Sequencer(db.sql, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
  await seq.submit(
    makeBatch(20).map((j) => {
      const p = parseSubmission(j);
      return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
    }),
  );
  await seq.close();
  const rows = await db.sql.query<{ batch: number; slot: number; leaf_hash: Uint8Array }>(
    "SELECT batch, slot, leaf_hash FROM leaves ORDER BY idx",
  );
  const c = counting(db.sql);
  const store = new BatchStore(c.sql);
  const got = await Promise.all(rows.slice(0, 10).map((r) => store.leaves([r])));
  expect(c.reads()).toBe(1);
  for (const [i, [leaf]] of got.entries()) {
    expect(Buffer.from(nodeHasher.leaf(leaf!)).equals(Buffer.from(rows[i]!.leaf_hash))).toBe(true);
  }
  // Not stored: each concurrent reader fails, with the store's error.
  const gone = { batch: 999_999, slot: 0 };
  const failed = await Promise.allSettled(Array.from({ length: 5 }, () => store.leaves([gone])));
  for (const f of failed) {
    expect(f.status).toBe("rejected");
    expect((f as PromiseRejectedResult).reason).toBeInstanceOf(MissingBatchError);
  }
});
