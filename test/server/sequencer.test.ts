// The sequencer's integration (src/server/batch-sql.ts): pipelined from the tree this process last
// committed, rolled back and redone when another writer integrated since, and the probe path for
// leaves already in the tree. Two Sequencers on one database stand for two `serve` processes.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/encoding.ts";
import { parseSubmission } from "../../src/core/events.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { ConflictError, type LeafInput, Sequencer } from "../../src/server/sequencer.ts";
import { mth } from "../core/reference.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch, makeSubmission } from "../support/events.ts";

const inputs = (subs: Record<string, unknown>[]): LeafInput[] =>
  subs.map((j) => {
    const s = parseSubmission(j);
    const payload = s.content && s.salt ? { salt: s.salt, content: s.content } : undefined;
    return eventInput(s.meta, s.leaf, nodeHasher, payload);
  });

let db: TestDb;
beforeEach(async () => {
  db = await openTestDb();
});
afterEach(async () => {
  await db.close();
});

/** The stored tree: leaves contiguous from 0, and log_state's root recomputed from them. */
async function expectOneTree(size: number) {
  const rows = await db.sql.query<{ idx: number; leaf_hash: Uint8Array }>(
    "SELECT idx, leaf_hash FROM leaves ORDER BY idx",
  );
  expect(rows.map((r) => Number(r.idx))).toEqual(Array.from({ length: size }, (_, i) => i));
  const [state] = await db.sql.query<{ size: number; root: Uint8Array }>(
    "SELECT size, root FROM log_state WHERE id = 1",
  );
  expect(Number(state!.size)).toBe(size);
  expect(bytesEqual(state!.root, mth(rows.map((r) => r.leaf_hash)))).toBe(true);
}

describe("sequencer integration", () => {
  it("two writers on one database build one tree; a stale writer rolls back and redoes its batch", async () => {
    const stale: boolean[] = [];
    const opts = { maxBatch: 1000, lingerMs: 1, hasher: nodeHasher };
    const a = new Sequencer(db.sql, { ...opts, onBatch: (b) => stale.push(b.stale) });
    const b = new Sequencer(db.sql, { ...opts, onBatch: (b) => stale.push(b.stale) });
    // Alternating: each writer's remembered tree is stale after the other one wrote.
    const ra1 = await a.submit(inputs(makeBatch(5, 0, { pane: "%1" })));
    const rb1 = await b.submit(inputs(makeBatch(5, 0, { pane: "%2" })));
    const ra2 = await a.submit(inputs(makeBatch(5, 5, { pane: "%1" })));
    expect(ra1.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(rb1.map((r) => r.index)).toEqual([5, 6, 7, 8, 9]);
    expect(ra2.map((r) => r.index)).toEqual([10, 11, 12, 13, 14]);
    expect(stale).toContain(true);
    // Concurrently, many small submissions from both.
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      jobs.push(a.submit(inputs(makeBatch(3, 10 + i * 3, { pane: "%1" }))));
      jobs.push(b.submit(inputs(makeBatch(3, 5 + i * 3, { pane: "%2" }))));
    }
    await Promise.all(jobs);
    await expectOneTree(135);
    await Promise.all([a.close(), b.close()]);
  });

  it("a retry through the other writer answers the original indexes; a different event at a filled position is a conflict", async () => {
    const opts = { maxBatch: 1000, lingerMs: 1, hasher: nodeHasher };
    const a = new Sequencer(db.sql, opts);
    const b = new Sequencer(db.sql, opts);
    const batch = makeBatch(4, 0);
    const first = await a.submit(inputs(batch));
    await b.submit(inputs(makeBatch(2, 0, { pane: "%9" })));
    // `a` remembers size 4, the tree is at 6: stale, and then every leaf is already in the tree.
    const again = await a.submit(inputs(batch));
    expect(again.map((r) => [r.index, r.duplicate])).toEqual(first.map((r) => [r.index, true]));
    const other = inputs([makeSubmission({ seq: 2, content: "something else" })]);
    await expect(a.submit(other)).rejects.toBeInstanceOf(ConflictError);
    // After a rollback, the writer still appends where the tree is.
    const next = await a.submit(inputs(makeBatch(1, 4)));
    expect(next[0]!.index).toBe(6);
    await expectOneTree(7);
    await Promise.all([a.close(), b.close()]);
  });
});
