// The publisher's cadence on a fake clock (docs/design.md §6.1): the first tick at once, then one
// due `intervalMs` after the previous one began, however long it took (at once when it took longer,
// never two at a time); a signature only when the tree grew, one per tick covering everything
// committed before it; a failed tick reported and the cadence kept; `?wait=checkpoint` waiters
// answered by the tick whose checkpoint (with its quorum) covers them, else at their deadline;
// stop() cancels the pending tick and answers the waiters. Time moves only when a test moves it:
// no test here sleeps.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseSubmission } from "../../src/core/events.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import type { FaultHook } from "../../src/server/fault-hook.ts";
import {
  CheckpointWaitTimeout,
  Publisher,
  type PublisherClock,
  type PublisherOptions,
  PublisherStoppedError,
} from "../../src/server/publisher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { TEST_KEY } from "../support/log.ts";

const INTERVAL = 1000;

/** A clock whose time moves only when the test moves it; timers fire only when the test says. */
class FakeClock implements PublisherClock {
  private time = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private scheduledListeners: (() => void)[] = [];
  /** The times at which a timer fired. */
  readonly fired: number[] = [];

  now(): number {
    return this.time;
  }

  schedule(fn: () => void, ms: number): () => void {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + ms, fn });
    const listeners = this.scheduledListeners;
    this.scheduledListeners = [];
    for (const l of listeners) l();
    return () => this.timers.delete(id);
  }

  /** Due times of the pending timers, soonest first. */
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.at).sort((a, b) => a - b);
  }

  /** Time passing without any timer firing (inside a tick: a slow publish, slow witnesses). */
  pass(ms: number): void {
    this.time += ms;
  }

  /** Moves time forward by `ms`, firing the timers due by then in order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const next = this.soonest();
      if (!next || next[1].at > until) break;
      this.fire(next);
    }
    this.time = until;
  }

  /** Fires the soonest pending timer (time moves to its due time, never back) and returns that time. */
  fireNext(): number {
    const next = this.soonest();
    if (!next) throw new Error("no timer is pending");
    return this.fire(next);
  }

  /** Resolves at the next `schedule` call (a tick schedules the next one as its last act). */
  nextSchedule(): Promise<void> {
    return new Promise((r) => this.scheduledListeners.push(r));
  }

  private soonest(): [number, { at: number; fn: () => void }] | undefined {
    return [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
  }

  private fire([id, t]: [number, { at: number; fn: () => void }]): number {
    this.timers.delete(id);
    this.time = Math.max(this.time, t.at);
    this.fired.push(this.time);
    t.fn();
    return this.time;
  }
}

/** Output events seq from..from+n-1, as the sequencer takes them. */
const events = (n: number, from: number) =>
  makeBatch(n, from).map((j) => {
    const p = parseSubmission(j);
    return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
  });

/** Whether a promise has settled yet, and how. */
function track(p: Promise<unknown>): { state: () => "pending" | "resolved" | "rejected" } {
  let state: "pending" | "resolved" | "rejected" = "pending";
  p.then(
    () => {
      state = "resolved";
    },
    () => {
      state = "rejected";
    },
  );
  return { state: () => state };
}

/** Lets settled promises' callbacks run (no I/O is waited for). */
const microtasks = () => new Promise<void>((r) => setImmediate(r));

let db: TestDb;
let sequencer: Sequencer;
let clock: FakeClock;
let publisher: Publisher | undefined;
let appended = 0;

beforeEach(async () => {
  db = await openTestDb();
  sequencer = new Sequencer(db.sql, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
  clock = new FakeClock();
  appended = 0;
});
afterEach(async () => {
  await publisher?.stop();
  publisher = undefined;
  await sequencer.close();
  await db.close();
});

function makePublisher(opts: Partial<PublisherOptions> = {}): Publisher {
  publisher = new Publisher(db.sql, {
    origin: "test.tmuxtrail/log",
    signer: parseSignerKey(TEST_KEY.signerKey),
    hasher: nodeHasher,
    intervalMs: INTERVAL,
    clock,
    ...opts,
  });
  return publisher;
}

/** Commits `n` more events. */
async function grow(n: number): Promise<number> {
  await sequencer.submit(events(n, appended));
  appended += n;
  return appended;
}

/** Fires the pending tick and waits until it has run to its end (it schedules the next one). */
async function runTick(): Promise<number> {
  const done = clock.nextSchedule();
  const at = clock.fireNext();
  await done;
  return at;
}

/** The stored checkpoints' sizes, oldest first. */
async function signedSizes(): Promise<number[]> {
  const rows = await db.sql.query<{ size: number }>("SELECT size FROM checkpoints ORDER BY size");
  return rows.map((r) => Number(r.size));
}

describe("publisher cadence (fake clock)", () => {
  it("ticks at once on start, then every interval; a tree that does not grow is not signed again", async () => {
    const covered: number[] = [];
    const p = makePublisher({ onCovered: (size) => covered.push(size) });
    p.start();
    expect(clock.pending()).toEqual([0]);
    expect(await runTick()).toBe(0);
    expect(await signedSizes()).toEqual([0]); // a new log: the empty tree
    for (let i = 1; i <= 4; i++) {
      expect(clock.pending()).toEqual([i * INTERVAL]);
      expect(await runTick()).toBe(i * INTERVAL);
    }
    expect(await signedSizes()).toEqual([0]);
    // Each tick still finds the committed tree covered (the checkpoint-age gauge stays at ~0).
    expect(covered).toEqual([0, 0, 0, 0, 0]);
  });

  it("signs once per tick while the tree grows, covering everything committed before the tick", async () => {
    const p = makePublisher();
    p.start();
    await runTick(); // size 0
    for (let i = 1; i <= 3; i++) {
      // Several commits within one interval: one signature for all of them.
      await grow(2);
      await grow(3);
      expect(await signedSizes()).toHaveLength(i); // nothing signed between ticks
      await runTick();
    }
    expect(await signedSizes()).toEqual([0, 5, 10, 15]);
    expect(clock.fired).toEqual([0, 1000, 2000, 3000]);
    // An idle interval after growth: no signature.
    await runTick();
    expect(await signedSizes()).toEqual([0, 5, 10, 15]);
  });

  it("schedules the next tick an interval after the last began, however long the publish and witnesses take", async () => {
    // A slow publish (700 ms between signing and storing) and slow witnesses (200 ms).
    const fault: FaultHook = async (step) => {
      if (step === "signed") clock.pass(700);
    };
    const p = makePublisher({ fault, afterTick: async () => clock.pass(200) });
    p.start();
    await runTick();
    for (let i = 1; i <= 3; i++) {
      await grow(1);
      await runTick();
      // The tick began at i s and ended at i s + 900 ms; the next is due at (i + 1) s.
      expect(clock.now()).toBe(i * INTERVAL + 900);
      expect(clock.pending()).toEqual([(i + 1) * INTERVAL]);
    }
    expect(clock.fired).toEqual([0, 1000, 2000, 3000]);
    expect(await signedSizes()).toEqual([0, 1, 2, 3]);
  });

  it("a tick longer than the interval: the next is due at once, never alongside it, with no catch-up burst", async () => {
    // What was pending while a tick ran: nothing, as it has not scheduled the next one yet.
    const pendingInTick: number[][] = [];
    const fault: FaultHook = async (step) => {
      if (step === "verified") {
        pendingInTick.push(clock.pending());
        clock.pass(2500); // two and a half intervals
      }
    };
    const p = makePublisher({ fault });
    p.start();
    await runTick(); // 0 → 2500 (signing the empty tree took 2.5 s)
    expect(clock.pending()).toEqual([2500]); // at once, not at 1000 and 2000 in a burst
    await grow(1);
    await runTick(); // 2500 → 5000
    expect(clock.pending()).toEqual([5000]);
    await runTick(); // 5000: nothing to sign, takes no time
    expect(clock.pending()).toEqual([6000]); // back on the interval
    expect(clock.fired).toEqual([0, 2500, 5000]);
    expect(pendingInTick).toEqual([[], []]);
    expect(await signedSizes()).toEqual([0, 1]);
  });

  it("stop() cancels the pending tick: no tick fires after it, however long time runs or the tree grows", async () => {
    const p = makePublisher();
    p.start();
    await runTick();
    await runTick();
    expect(clock.pending()).toEqual([2000]);
    await p.stop();
    expect(clock.pending()).toEqual([]);
    await grow(3);
    clock.advance(10 * INTERVAL);
    expect(clock.fired).toEqual([0, 1000]);
    expect(await signedSizes()).toEqual([0]);
  });

  it("stop() during a tick waits for its publication, and that tick schedules no other", async () => {
    let release!: () => void;
    let reachedSigned!: () => void;
    const atSigned = new Promise<void>((r) => {
      reachedSigned = r;
    });
    const fault: FaultHook = async (step) => {
      if (step === "signed") {
        reachedSigned();
        await new Promise<void>((r) => {
          release = r;
        });
      }
    };
    let ticksEnded = 0;
    const p = makePublisher({
      fault,
      afterTick: async () => {
        ticksEnded++;
      },
    });
    p.start();
    clock.fireNext(); // the tick is now signing the empty tree, held between signing and storing
    await atSigned;
    const stopping = track(p.stop());
    await microtasks();
    expect(stopping.state()).toBe("pending"); // the signed checkpoint is stored, not dropped
    release();
    await settled(() => stopping.state() !== "pending");
    expect(stopping.state()).toBe("resolved");
    expect(await signedSizes()).toEqual([0]);
    await settled(() => ticksEnded === 1);
    await microtasks();
    expect(clock.pending()).toEqual([]);
  });

  it("a failed tick is reported and the cadence goes on: the next tick signs", async () => {
    const errors: unknown[] = [];
    let failures = 1;
    const fault: FaultHook = async (step) => {
      if (step === "verified" && failures-- > 0) {
        clock.pass(300);
        throw new Error("injected");
      }
    };
    const p = makePublisher({ fault, onError: (e) => errors.push(e) });
    p.start();
    await runTick();
    expect(errors.map((e) => (e as Error).message)).toEqual(["injected"]);
    expect(await signedSizes()).toEqual([]);
    expect(clock.pending()).toEqual([INTERVAL]); // still an interval after the failed tick began
    await runTick();
    expect(await signedSizes()).toEqual([0]);
    expect(errors).toHaveLength(1);
  });

  it("answers a waiter in the tick whose checkpoint covers it, and cancels its deadline", async () => {
    const order: string[] = [];
    const p = makePublisher({
      afterTick: async () => {
        order.push("afterTick");
      },
      onCovered: () => order.push("covered"),
    });
    p.start();
    await runTick();
    await grow(4);
    const waiting = p.waitFor(4, 5000);
    const w = track(waiting);
    waiting.then(() => order.push("waiter"));
    expect(clock.pending()).toEqual([1000, 5000]);
    await microtasks();
    expect(w.state()).toBe("pending"); // committed, not yet signed
    order.length = 0;
    await runTick();
    await microtasks();
    expect(w.state()).toBe("resolved");
    // In the tick: publish, then the witnesses, then the waiters.
    expect(order).toEqual(["covered", "afterTick", "waiter"]);
    expect(clock.pending()).toEqual([2000]); // the deadline is gone
  });

  it("a waiter's deadline is on the clock: CheckpointWaitTimeout exactly when it passes", async () => {
    const p = makePublisher();
    await grow(2);
    const waiting = p.waitFor(2, 5000);
    const w = track(waiting);
    clock.advance(4999);
    await microtasks();
    expect(w.state()).toBe("pending");
    clock.advance(1);
    await expect(waiting).rejects.toBeInstanceOf(CheckpointWaitTimeout);
    await expect(waiting).rejects.toMatchObject({ size: 2, timeoutMs: 5000 });
    // A checkpoint after the deadline answers nobody twice.
    await p.publish();
    await p.notifyWaiters();
  });

  it("with a witness quorum, a waiter waits for the cosignatures, answered by the next tick", async () => {
    const p = makePublisher({ witnessQuorum: 1 });
    p.start();
    await runTick();
    await grow(3);
    const w = track(p.waitFor(3, 60_000));
    await runTick(); // signs size 3, no cosignature yet
    expect(await signedSizes()).toEqual([0, 3]);
    await microtasks();
    expect(w.state()).toBe("pending");
    await db.sql.query(
      "INSERT INTO cosignatures (size, witness, line, time) VALUES ($1, $2, $3, $4)",
      [3, "witness.example", "— witness.example AAAA", 1],
    );
    await runTick(); // nothing to sign; the waiters are looked at again
    await microtasks();
    expect(w.state()).toBe("resolved");
    expect(clock.pending()).toEqual([3000]);
  });

  it("stop() answers pending waiters with PublisherStoppedError", async () => {
    const p = makePublisher();
    p.start();
    await runTick();
    await grow(1);
    const waiting = p.waitFor(1, 5000);
    await p.stop();
    await expect(waiting).rejects.toBeInstanceOf(PublisherStoppedError);
  });

  it("a publish() from outside the cadence (start-up, shutdown) runs one at a time with the tick's", async () => {
    let inPublish = 0;
    let most = 0;
    const fault: FaultHook = async (step) => {
      if (step === "verified") {
        inPublish++;
        most = Math.max(most, inPublish);
        await microtasks();
      }
      if (step === "signed") inPublish--;
    };
    const p = makePublisher({ fault });
    await grow(2);
    p.start();
    const done = clock.nextSchedule();
    clock.fireNext();
    const outside = p.publish(); // queued behind the tick's publication
    await done;
    // The tick signed size 2; the outside call read the tree afresh and found it covered.
    expect(await outside).toBeUndefined();
    expect(most).toBe(1);
    expect(await signedSizes()).toEqual([2]);
  });
});

/** Waits on the event loop (not the fake clock, not a fixed time) until `cond` holds. */
async function settled(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => setImmediate(r));
}
