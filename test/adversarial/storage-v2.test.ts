// Storage v2 (docs/design.md §4.9) against a submitter who resubmits and a reader in another
// process: content lives only in batch slots a leaves row points to, so erasure finds every copy.
//   - the same event staged in two batches at once: the slot that did not enter the tree is
//     rewritten away in the integrating transaction (fails without the sequencer's scrub);
//   - an erased event resubmitted: staged again, then found in the tree and its new slot emptied,
//     so no batch holds the erased content (fails without the scrub);
//   - a batch staged by a process that died before integrating it: erasure's sweep deletes it;
//   - a reader whose cache holds a batch's contents does not serve them after another process's
//     erasure rewrote them (fails without the version check);
//   - a leaf claimed twice in one batch whose first claimant conflicts under the lock: the second
//     claim takes the staged copy (failed every submission of the group with "not staged" when
//     places were looked up by claim, not by leaf hash);
//   - an erased event resubmitted in a submission that fails: its content is never staged, and
//     the failed batch is deleted at once (stayed until a sweep ten minutes later);
//   - a crafted contents part claiming 20,000,000 slots: refused before unpacking (took 12 s and
//     2 GB, or ran out of memory, before the count was checked against its batch's).

import { afterEach, beforeEach, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/encoding.ts";
import { parseSubmission } from "../../src/core/events.ts";
import {
  BatchFormatError,
  compress,
  decompress,
  frameContents,
  unframeContents,
} from "../../src/db/batch-codec.ts";
import { BatchStore, rewriteContents } from "../../src/db/batch-store.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { erase } from "../../src/server/erase.ts";
import type { FaultHook } from "../../src/server/fault-hook.ts";
import { OwnEventWriter } from "../../src/server/own-event-writer.ts";
import { classify } from "../../src/server/sequencer/classify.ts";
import { eventInput, type LeafInput } from "../../src/server/sequencer/input.ts";
import { stage } from "../../src/server/sequencer/stage.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, openTestLog } from "../support/log.ts";

let db: TestDb;
let fault: FaultHook | undefined;
let sequencer: Sequencer;

beforeEach(async () => {
  db = await openTestDb();
  fault = undefined;
  sequencer = new Sequencer(db.sql, {
    maxBatch: 1000,
    lingerMs: 1,
    hasher: nodeHasher,
    fault: (step) => fault?.(step),
  });
});
afterEach(async () => {
  await sequencer.close();
  await db.close();
});

const events = (n: number, from: number, pane = "%1"): LeafInput[] =>
  makeBatch(n, from, { pane, content: `secret ${pane} ${from} ` }).map((j) => {
    const p = parseSubmission(j);
    return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
  });

/** Every batch slot, in any batch, whose salt and content are `ev`'s. */
async function copiesOf(ev: LeafInput): Promise<{ batch: number; slot: number }[]> {
  const rows = await db.sql.query<{ id: number; codec: number; contents: Uint8Array }>(
    "SELECT id, codec, contents FROM batches ORDER BY id",
  );
  const found: { batch: number; slot: number }[] = [];
  for (const r of rows) {
    for (const [slot, p] of unframeContents(await decompress(r.contents, r.codec)).entries()) {
      if (p && bytesEqual(p.salt, ev.payload!.salt) && bytesEqual(p.content, ev.payload!.content)) {
        found.push({ batch: r.id, slot });
      }
    }
  }
  return found;
}

it("an event staged in two batches at once keeps its content in one slot: the one in the tree", async () => {
  const ev = events(1, 0);
  // Both submissions are staged before either is integrated.
  let waiting: (() => void) | undefined;
  const bothStaged = new Promise<void>((resolve) => {
    let n = 0;
    waiting = () => {
      if (++n === 2) resolve();
    };
  });
  fault = async (step) => {
    if (step !== "staged") return;
    waiting!();
    await bothStaged;
  };
  // Two batches: the second submission comes after the first batch was cut (lingerMs 1).
  const first = sequencer.submit(ev);
  await new Promise((r) => setTimeout(r, 30));
  const [a, b] = await Promise.all([first, sequencer.submit(ev)]);
  expect(a[0]!.index).toBe(b[0]!.index);
  expect(await db.sql.query("SELECT id FROM batches")).toHaveLength(2);
  const [leaf] = await db.sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves WHERE idx = $1",
    [a[0]!.index],
  );
  expect(await copiesOf(ev[0]!)).toEqual([{ batch: leaf!.batch, slot: leaf!.slot }]);
});

it("an erased event resubmitted stores its content nowhere, not even in a batch outside the tree", async () => {
  const own = new OwnEventWriter(db.sql, sequencer, ORIGIN, nodeHasher);
  const evs = events(3, 0);
  await sequencer.submit(evs);
  const r = await erase(
    db.sql,
    own,
    { session: { host: "web-1", server: "default@1764050000", session: "$1" } },
    "admin",
    "test",
  );
  expect(r.erased).toBe(3);
  for (const ev of evs) expect(await copiesOf(ev)).toEqual([]);
  const again = await sequencer.submit(evs);
  expect(again.map((x) => x.duplicate)).toEqual([true, true, true]);
  for (const ev of evs) expect(await copiesOf(ev)).toEqual([]);
});

it("a batch staged by a process that died before integrating it is deleted by erasure's sweep", async () => {
  const kept = events(2, 0);
  await sequencer.submit(kept);
  // What a process that died right after step 2 leaves: a staged batch, never integrated.
  const lost = events(2, 2);
  const plan = classify([{ leaves: lost, resolve: () => {}, reject: () => {} }]);
  await stage(db.sql, plan.fresh);
  expect(await copiesOf(lost[0]!)).toHaveLength(1);
  // Ten minutes later (as a superuser moves the clock back: staged_at is otherwise immutable).
  await db.sql.begin(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    await tx.query(
      "UPDATE batches SET staged_at = now() - interval '11 minutes' WHERE NOT integrated",
    );
  });
  const own = new OwnEventWriter(db.sql, sequencer, ORIGIN, nodeHasher);
  await erase(db.sql, own, { before: "2000-01-01T00:00:00Z" }, "admin", "sweep");
  expect(await copiesOf(lost[0]!)).toEqual([]);
  const batches = await db.sql.query<{ integrated: boolean }>("SELECT integrated FROM batches");
  expect(batches.every((b) => b.integrated)).toBe(true);
  // What entered the tree is untouched.
  for (const ev of kept) expect(await copiesOf(ev)).toHaveLength(1);
});

it("a reader's cached contents are not served after another process's erasure rewrote them", async () => {
  const evs = events(4, 0);
  await sequencer.submit(evs);
  const rows = await db.sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves ORDER BY idx",
  );
  const reader = new BatchStore(db.sql);
  const first = await reader.events(rows);
  expect(first.every((e) => e.payload !== null)).toBe(true);
  // Another process (its own store) erases slot 1.
  await db.sql.begin((tx) => rewriteContents(tx, rows[1]!.batch, [rows[1]!.slot]));
  const second = await reader.events(rows);
  expect(second.map((e) => e.payload === null)).toEqual([false, true, false, false]);
});

it("a leaf claimed twice in one batch, whose first claimant conflicts under the lock, is appended from the staged copy", async () => {
  // The tree holds Z at %1 seq 0; S1 = [X at %1 seq 0, Y] conflicts only once the tree is read.
  const [z] = events(1, 0, "%1");
  await sequencer.submit([z!]);
  const x = events(1, 0, "%1")[0]!; // a different event at the same position (fresh salt)
  const y = events(1, 0, "%2")[0]!;
  const [s1, s2] = await Promise.allSettled([sequencer.submit([x, y]), sequencer.submit([y])]);
  expect(s1.status).toBe("rejected");
  expect((s1 as PromiseRejectedResult).reason.name).toBe("ConflictError");
  expect(s2.status).toBe("fulfilled");
  const [row] = await db.sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves WHERE idx = $1",
    [(s2 as PromiseFulfilledResult<{ index: number }[]>).value[0]!.index],
  );
  expect(await copiesOf(y)).toEqual([{ batch: row!.batch, slot: row!.slot }]);
  // X never entered the tree: its staged content is gone.
  expect(await copiesOf(x)).toEqual([]);
});

it("an erased event resubmitted in a submission that fails leaves no copy behind", async () => {
  const own = new OwnEventWriter(db.sql, sequencer, ORIGIN, nodeHasher);
  const evs = events(2, 0);
  await sequencer.submit(evs);
  await erase(
    db.sql,
    own,
    { session: { host: "web-1", server: "default@1764050000", session: "$1" } },
    "admin",
    "test",
  );
  for (const step of ["staged", "integrating"] as const) {
    fault = (s) => {
      if (s === step) throw new Error(`fault at ${s}`);
    };
    await expect(sequencer.submit([...evs, ...events(1, 10, "%4")])).rejects.toThrow("fault");
    fault = undefined;
    for (const ev of evs) expect(await copiesOf(ev)).toEqual([]);
    // Nothing of the failed submission waits for the sweep.
    expect(await db.sql.query("SELECT id FROM batches WHERE NOT integrated")).toEqual([]);
  }
});

it("a crafted contents part claiming millions of slots is refused at once, not unpacked", async () => {
  const evs = events(4, 0);
  await sequencer.submit(evs);
  const [row] = await db.sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves WHERE idx = 0",
  );
  // 20,000,000 empty slots: 80 MB framed, a few kilobytes compressed.
  const raw = new Uint8Array(4 + 4 * 20_000_000);
  new DataView(raw.buffer).setUint32(0, 20_000_000);
  const bomb = await compress(raw);
  expect(bomb.length).toBeLessThan(100_000);
  await db.sql.begin(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    await tx.query("UPDATE batches SET contents = $1, version = version + 1 WHERE id = $2", [
      bomb,
      row!.batch,
    ]);
  });
  const t0 = performance.now();
  await expect(new BatchStore(db.sql).events([row!])).rejects.toBeInstanceOf(BatchFormatError);
  expect(performance.now() - t0).toBeLessThan(5_000);
  // A part framing another count than its batch's is refused too.
  const three = frameContents([null, null, null]);
  await db.sql.begin(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    await tx.query("UPDATE batches SET contents = $1, version = version + 1 WHERE id = $2", [
      await compress(three),
      row!.batch,
    ]);
  });
  await expect(new BatchStore(db.sql).events([row!])).rejects.toThrow(/holds 3 slots/);
});

it("an entry read after another process rewrote its batch serves the rewrite, though this one cached the batch", async () => {
  const log = await openTestLog();
  try {
    const res = await log.req("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(makeBatch(3)),
    });
    expect(res.status).toBe(200);
    const read = async () =>
      (await (await log.req("/v1/entries/1")).json()) as { payload: unknown; erased: boolean };
    expect((await read()).payload).not.toBeNull();
    const [row] = await log.db.sql.query<{ batch: number; slot: number }>(
      "SELECT batch, slot FROM leaves WHERE idx = 1",
    );
    // Another process: its own transaction, not this log's BatchStore.
    await log.db.sql.begin((tx) => rewriteContents(tx, row!.batch, [row!.slot]));
    expect(await read()).toMatchObject({ payload: null, erased: true });
  } finally {
    await log.close();
  }
});
