// The publisher's cadence: a tick is due one interval after the previous one started, so the time
// a tick takes (signing, witnesses, waiters) does not add to checkpoint lag.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseSignerKey } from "../../src/log/keys.ts";
import { nodeHasher } from "../../src/server/node-hasher.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { TEST_KEY } from "../support/log.ts";

let db: TestDb;
beforeEach(async () => {
  db = await openTestDb();
});
afterEach(async () => {
  await db.close();
});

describe("publisher", () => {
  it("ticks every interval even when a tick takes most of it", async () => {
    const starts: number[] = [];
    const publisher = new Publisher(db.sql, {
      origin: "test.tmuxtrail/log",
      signer: parseSignerKey(TEST_KEY.signerKey),
      hasher: nodeHasher,
      intervalMs: 300,
      // A slow tick: 250 ms of the 300 ms interval (e.g. witnesses answering slowly).
      afterTick: async () => {
        starts.push(Date.now());
        await new Promise((r) => setTimeout(r, 250));
      },
    });
    publisher.start();
    await new Promise((r) => setTimeout(r, 3000));
    await publisher.stop();
    // Started 300 ms apart: ~10 ticks in 3 s. Had the wait begun after each tick ended, ticks
    // would be ≥ 550 ms apart: at most 6.
    expect(starts.length).toBeGreaterThanOrEqual(8);
  });
});
