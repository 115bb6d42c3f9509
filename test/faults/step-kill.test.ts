// kill -9 at each durable step (src/server/fault-hook.ts): the log runs as a child process with a
// fault hook that SIGKILLs it at that step (test/support/fault-log.ts), under concurrent load; it
// is restarted on the same data with `tmuxtrail serve`. After the restart: no checkpoint older
// than one served before the kill; every acknowledged event at its index; the batches cut off by
// the kill, re-sent identically, come back as leaves or duplicates, never a conflict; every
// checkpoint served before or after is the root of exactly the leaves stored at its size (so none
// signs an unstored leaf) and is consistent with every later one.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Checkpoint } from "../../src/core/checkpoint.ts";
import { base64Decode, base64Encode, bytesEqual } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import type { DurableStep } from "../../src/server/fault-hook.ts";
import { mth } from "../core/reference.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { startFaultLog } from "../support/fault-log.ts";
import {
  ackedMismatches,
  checkpointCovering,
  consistencyProblems,
  Ledger,
  latestCheckpoint,
  resendInFlight,
  type Submitter,
  submitLoop,
  watchCheckpoints,
} from "../support/faults-serve.ts";
import { ADMIN } from "../support/log.ts";
import { serve, tempDir } from "../support/serve.ts";

let db: TestDb | undefined;
beforeEach(async () => {
  if (usingPostgres) db = await openTestDb();
});
afterEach(async () => {
  await db?.close();
  db = undefined;
});

/** Sizes of `seen` whose root is not the root of the leaves /v1/entries serves below that size. */
async function unstoredCheckpoints(url: string, seen: Checkpoint[]): Promise<string[]> {
  const max = Math.max(0, ...seen.map((c) => c.size));
  const hashes: Uint8Array[] = [];
  while (hashes.length < max) {
    const r = await fetch(`${url}/v1/entries?from=${hashes.length}&limit=10000`, {
      headers: { Authorization: `Bearer ${ADMIN}` },
    });
    const page = (await r.json()) as { index: number; leafHash: string; leaf: string }[];
    if (page.length === 0) break;
    for (const e of page) hashes.push(rfc6962.leaf(base64Decode(e.leaf)));
  }
  const out: string[] = [];
  for (const cp of seen) {
    if (cp.size > hashes.length) out.push(`checkpoint ${cp.size}: only ${hashes.length} stored`);
    else if (!bytesEqual(mth(hashes.slice(0, cp.size)), cp.root))
      out.push(`checkpoint ${cp.size} (${base64Encode(cp.root)}) is not the stored leaves' root`);
  }
  return out;
}

const STEPS: DurableStep[] = ["staged", "integrating", "integrated", "verified", "signed"];

describe("kill -9 at a durable step", () => {
  for (const step of STEPS) {
    it(`at "${step}": restart loses nothing acknowledged and no checkpoint covers an unstored leaf`, {
      timeout: 120_000,
    }, async () => {
      const data = tempDir("tt-step-kill-");
      const ledger = new Ledger();
      const seen: Checkpoint[] = [];
      const submitters: Submitter[] = [0, 1, 2].map((w) => ({ pane: `%s${w}`, next: 0 }));
      const log = await startFaultLog({ data, schema: db?.schema, step, after: 3 });
      const verifier = parseVerifierKey(log.verifierKey);
      let stop = false;
      const load = submitLoop(log.url, submitters, ledger, () => stop, { batch: 10 });
      const watcher = watchCheckpoints(log.url, verifier, seen, () => stop);
      const signal = await Promise.race([
        log.killed,
        new Promise((r) => setTimeout(() => r("the fault did not fire within 60 s"), 60_000)),
      ]);
      stop = true;
      log.stop();
      await Promise.all([load, watcher]);
      expect(signal, log.stderr()).toBe("SIGKILL");
      expect(log.stderr()).toContain(`kill -9 at ${step}`);
      expect(ledger.acked.size).toBeGreaterThan(0);

      const s = await serve({ data, schema: db?.schema });
      try {
        // No rollback: the first checkpoint served is at least the last one seen before the kill.
        const first = await latestCheckpoint(s.url, log.verifierKey);
        expect(first.size).toBeGreaterThanOrEqual(Math.max(0, ...seen.map((c) => c.size)));
        seen.push(first);
        // Every acknowledgement is there.
        const acked = Math.max(...ledger.acked.keys()) + 1;
        const cp = await checkpointCovering(s.url, log.verifierKey, acked);
        expect(await ackedMismatches(s.url, ledger.acked, cp.size)).toEqual([]);
        // The batches cut off by the kill go through: new leaves or duplicates, never a conflict.
        expect(await resendInFlight(s.url, submitters, ledger)).toEqual([]);
        expect(ledger.statuses.get(409) ?? 0).toBe(0);
        expect(ledger.clashes).toEqual([]);
        const latest = await checkpointCovering(
          s.url,
          log.verifierKey,
          Math.max(...ledger.acked.keys()) + 1,
        );
        seen.push(latest);
        expect(await ackedMismatches(s.url, ledger.acked, latest.size)).toEqual([]);
        expect(await unstoredCheckpoints(s.url, seen)).toEqual([]);
        expect(await consistencyProblems(s.url, seen, latest)).toEqual([]);
      } finally {
        s.proc.child.kill("SIGTERM");
        await s.proc.exited;
      }
    });
  }
});
