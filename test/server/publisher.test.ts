// The publisher's cadence: a tick is due one interval after the previous one started, so the time
// a tick takes (signing, witnesses, waiters) does not add to checkpoint lag. And `onCovered`, behind
// tmuxtrail_checkpoint_age_seconds: it fires when the committed tree is covered by a checkpoint,
// whoever signed it, and not while the publisher refuses to sign.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseSubmission } from "../../src/core/events.ts";
import { generateKey, parseSignerKey } from "../../src/core/keys.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { Publisher, StorageMismatchError } from "../../src/server/publisher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { TEST_KEY } from "../support/log.ts";
import { until } from "../support/wait.ts";

/** Output events seq from..from+n-1, as the sequencer takes them. */
const events = (n: number, from: number) =>
  makeBatch(n, from).map((j) => {
    const p = parseSubmission(j);
    return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
  });

let db: TestDb;
beforeEach(async () => {
  db = await openTestDb();
});
afterEach(async () => {
  await db.close();
});

describe("publisher", () => {
  // The cadence itself (a tick due an interval after the last began, however long it took) is
  // tested on a fake clock in publisher-cadence.test.ts; this checks only that a publisher given
  // no clock runs on real time, in milliseconds.
  it("given no clock, ticks on real time: at once, then not more often than every interval", async () => {
    const starts: number[] = [];
    const publisher = new Publisher(db.sql, {
      origin: "test.tmuxtrail/log",
      signer: parseSignerKey(TEST_KEY.signerKey),
      hasher: nodeHasher,
      intervalMs: 200,
      afterTick: async () => {
        starts.push(Date.now());
      },
    });
    const t0 = Date.now();
    publisher.start();
    try {
      await until(async () => starts.length >= 3, 10_000, "three ticks");
    } finally {
      await publisher.stop();
    }
    // Tick k (from 0) begins k intervals after start at the earliest (a timer may fire a
    // millisecond early by Date.now).
    for (const [k, at] of starts.entries())
      expect(at - t0, `tick ${k}`).toBeGreaterThanOrEqual(k * 195);
  });

  it("reports the tree covered when it signs, when another process signed, and not while it refuses", async () => {
    const covered: { who: string; size: number }[] = [];
    const publisher = (who: string) =>
      new Publisher(db.sql, {
        origin: "test.tmuxtrail/log",
        signer: parseSignerKey(TEST_KEY.signerKey),
        hasher: nodeHasher,
        intervalMs: 1000,
        onCovered: (size) => covered.push({ who, size }),
      });
    const [a, b] = [publisher("a"), publisher("b")];
    const sequencer = new Sequencer(db.sql, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
    await sequencer.submit(events(10, 0));
    expect((await a.publish())?.size).toBe(10);
    expect(await b.publish()).toBeUndefined(); // a signed it already
    expect(covered).toEqual([
      { who: "a", size: 10 },
      { who: "b", size: 10 },
    ]);
    // Storage altered behind the log's back (triggers off, as a superuser could): the publisher
    // refuses to sign, and the tree is not reported covered.
    await sequencer.submit(events(5, 10));
    await db.sql.begin(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = replica");
      await tx.query("UPDATE tiles SET hashes = $1 WHERE level = 0 AND idx = 0", [
        new Uint8Array(15 * 32),
      ]);
    });
    await expect(a.publish()).rejects.toBeInstanceOf(StorageMismatchError);
    expect(covered).toHaveLength(2);
  });

  it("refuses to sign after a checkpoint of another key (two processes started with different keys)", async () => {
    const publisher = (seed: number) =>
      new Publisher(db.sql, {
        origin: "test.tmuxtrail/log",
        signer: parseSignerKey(
          generateKey("test.tmuxtrail/log", new Uint8Array(32).fill(seed)).signerKey,
        ),
        hasher: nodeHasher,
        intervalMs: 1000,
      });
    const [a, b] = [publisher(1), publisher(2)];
    const sequencer = new Sequencer(db.sql, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
    await sequencer.submit(events(4, 0));
    expect((await a.publish())?.size).toBe(4);
    await sequencer.submit(events(4, 4));
    await expect(b.publish()).rejects.toThrow(/signed by another key/);
    expect((await a.publish())?.size).toBe(8);
  });
});
