// A thrown error at each durable step (src/server/fault-hook.ts), in process: the submission (or
// publication) in progress fails, nothing partial is visible, a retry succeeds, nothing acknowledged
// is lost, and every checkpoint stored is the root of exactly the leaves stored at its size.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/encoding.ts";
import { parseSubmission } from "../../src/core/events.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import { latestCheckpoint } from "../../src/db/checkpoints.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import type { DurableStep, FaultHook } from "../../src/server/fault-hook.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { type LeafResult, Sequencer } from "../../src/server/sequencer.ts";
import { mth } from "../core/reference.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, TEST_KEY } from "../support/log.ts";

class InjectedFault extends Error {}

/** Events seq from..from+n-1 of one pane, as the sequencer takes them. */
const events = (n: number, from: number, pane = "%1") =>
  makeBatch(n, from, { pane }).map((j) => {
    const p = parseSubmission(j);
    return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
  });

let db: TestDb;
let armed: DurableStep | undefined;
/** Throws once at the armed step. */
const fault: FaultHook = (step) => {
  if (step !== armed) return;
  armed = undefined;
  throw new InjectedFault(`fault at ${step}`);
};
let sequencer: Sequencer;
let publisher: Publisher;

beforeEach(async () => {
  db = await openTestDb();
  armed = undefined;
  sequencer = new Sequencer(db.sql, { maxBatch: 1000, lingerMs: 1, hasher: nodeHasher, fault });
  publisher = new Publisher(db.sql, {
    origin: ORIGIN,
    signer: parseSignerKey(TEST_KEY.signerKey),
    hasher: nodeHasher,
    intervalMs: 1000,
    fault,
  });
});
afterEach(async () => {
  await sequencer.close();
  await publisher.stop();
  await db.close();
});

/** The tree as stored: leaf hashes by index (contiguous from 0, each with its entry bytes). */
async function storedLeaves(): Promise<Uint8Array[]> {
  const rows = await db.sql.query<{
    idx: number;
    leaf_hash: Uint8Array;
    batch: number;
    slot: number;
  }>("SELECT l.idx, l.leaf_hash, l.batch, l.slot FROM leaves l ORDER BY l.idx");
  expect(rows.map((r) => Number(r.idx))).toEqual(rows.map((_, i) => i));
  const bytes = await new BatchStore(db.sql).leaves(rows);
  for (const [i, r] of rows.entries()) {
    expect(bytesEqual(nodeHasher.leaf(bytes[i]!), r.leaf_hash)).toBe(true);
  }
  // Every batch a leaf is in was marked integrated in the transaction that appended it.
  const [unmarked] = await db.sql.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM leaves l JOIN batches b ON b.id = l.batch WHERE NOT b.integrated",
  );
  expect(unmarked!.n).toBe(0);
  const [state] = await db.sql.query<{ size: number; root: Uint8Array }>(
    "SELECT size, root FROM log_state WHERE id = 1",
  );
  expect(Number(state!.size)).toBe(rows.length);
  expect(bytesEqual(state!.root, mth(rows.map((r) => r.leaf_hash)))).toBe(true);
  return rows.map((r) => r.leaf_hash);
}

/** Every stored checkpoint is the root of the stored leaves below its size. */
async function expectCheckpointsOfStoredLeaves(): Promise<void> {
  const leaves = await storedLeaves();
  const cps = await db.sql.query<{ size: number; root: Uint8Array }>(
    "SELECT size, root FROM checkpoints ORDER BY size",
  );
  for (const cp of cps) {
    expect(Number(cp.size)).toBeLessThanOrEqual(leaves.length);
    expect(bytesEqual(cp.root, mth(leaves.slice(0, Number(cp.size)))), `size ${cp.size}`).toBe(
      true,
    );
  }
}

const sessionEvents = async () =>
  (await db.sql.query<{ n: number }>("SELECT coalesce(sum(events), 0)::int AS n FROM sessions"))[0]!
    .n;

/** Acknowledged indexes still hold their leaves. */
async function expectAcked(acked: LeafResult[]): Promise<void> {
  const leaves = await storedLeaves();
  for (const a of acked) expect(bytesEqual(leaves[a.index]!, a.leafHash)).toBe(true);
}

describe("a thrown error at a sequencer step", () => {
  it('at "staged" (its batch stored, not integrated, then deleted): the submission fails, the tree is unchanged, a retry appends it', async () => {
    const acked = await sequencer.submit(events(5, 0));
    armed = "staged";
    const batch = events(5, 5);
    await expect(sequencer.submit(batch)).rejects.toBeInstanceOf(InjectedFault);
    expect(await storedLeaves()).toHaveLength(5);
    expect(await sessionEvents()).toBe(5);
    // The failed submission's staged batch is deleted at once (a process that died there would
    // leave it to erasure's sweep, test/adversarial/storage-v2.test.ts).
    const staged = await db.sql.query<{ integrated: boolean }>(
      "SELECT integrated FROM batches ORDER BY id",
    );
    expect(staged.map((b) => b.integrated)).toEqual([true]);
    const retry = await sequencer.submit(batch);
    expect(retry.map((r) => [r.index, r.duplicate])).toEqual(
      [5, 6, 7, 8, 9].map((i) => [i, false]),
    );
    await expectAcked([...acked, ...retry]);
    expect((await publisher.publish())?.size).toBe(10);
    await expectCheckpointsOfStoredLeaves();
  });

  it('at "integrating" (before COMMIT): the submission fails, nothing of it is in the tree, tiles or sessions, a retry appends it', async () => {
    const acked = await sequencer.submit(events(5, 0));
    expect((await publisher.publish())?.size).toBe(5);
    armed = "integrating";
    const batch = events(5, 5);
    await expect(sequencer.submit(batch)).rejects.toBeInstanceOf(InjectedFault);
    expect(await storedLeaves()).toHaveLength(5);
    expect(await sessionEvents()).toBe(5);
    // Nothing to sign: the tree did not grow.
    expect(await publisher.publish()).toBeUndefined();
    const retry = await sequencer.submit(batch);
    expect(retry.map((r) => [r.index, r.duplicate])).toEqual(
      [5, 6, 7, 8, 9].map((i) => [i, false]),
    );
    await expectAcked([...acked, ...retry]);
    expect((await publisher.publish())?.size).toBe(10);
    await expectCheckpointsOfStoredLeaves();
  });

  it('at "integrating" with two submissions in one integration: both fail whole, and each retry appends it', async () => {
    await sequencer.submit(events(2, 0, "%1"));
    armed = "integrating";
    const a = events(3, 2, "%1");
    const b = events(3, 0, "%2");
    const results = await Promise.allSettled([sequencer.submit(a), sequencer.submit(b)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(await storedLeaves()).toHaveLength(2);
    const [ra, rb] = await Promise.all([sequencer.submit(a), sequencer.submit(b)]);
    expect([...ra!, ...rb!].map((r) => r.index).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7]);
    await expectAcked([...ra!, ...rb!]);
  });

  it('at "integrated" (after COMMIT, before answering): the submission fails but is whole in the tree, and a retry answers its indexes as duplicates', async () => {
    const acked = await sequencer.submit(events(5, 0));
    armed = "integrated";
    const batch = events(5, 5);
    await expect(sequencer.submit(batch)).rejects.toBeInstanceOf(InjectedFault);
    const leaves = await storedLeaves();
    expect(leaves).toHaveLength(10);
    for (const [i, l] of batch.entries()) expect(bytesEqual(leaves[5 + i]!, l.leafHash)).toBe(true);
    expect(await sessionEvents()).toBe(10);
    const retry = await sequencer.submit(batch);
    expect(retry.map((r) => [r.index, r.duplicate])).toEqual([5, 6, 7, 8, 9].map((i) => [i, true]));
    // The next submission appends after them: the sequencer's idea of the tree survived the fault.
    const next = await sequencer.submit(events(1, 10));
    expect(next[0]!.index).toBe(10);
    await expectAcked([...acked, ...retry, ...next]);
    expect((await publisher.publish())?.size).toBe(11);
    await expectCheckpointsOfStoredLeaves();
  });
});

describe("a thrown error at a publisher step", () => {
  for (const step of ["verified", "signed"] as const) {
    it(`at "${step}": nothing is stored or served, the next publication signs the stored tree`, async () => {
      await sequencer.submit(events(5, 0));
      expect((await publisher.publish())?.size).toBe(5);
      const acked = await sequencer.submit(events(5, 5));
      armed = step;
      await expect(publisher.publish()).rejects.toBeInstanceOf(InjectedFault);
      expect((await latestCheckpoint(db.sql))?.size).toBe(5);
      const waiting = publisher.waitFor(10, 10_000);
      expect((await publisher.publish())?.size).toBe(10);
      await publisher.notifyWaiters();
      await waiting;
      await expectAcked(acked);
      await expectCheckpointsOfStoredLeaves();
    });
  }
});
