// Fault drill 1: kill -9 of the log process under load, three rounds at random points, restarting
// on the same data each time (PGlite data directory, or the same PostgreSQL schema).
//
// Beyond test/e2e/crash.test.ts (one kill, checked once at the end): events and opaque leaves
// are submitted concurrently; a batch cut off by the kill is re-sent identically after the restart
// (it must come back as leaves or duplicates, never as a conflict); after every restart the log
// must not serve a checkpoint older than one seen before the kill and must already hold every
// acknowledgement; at the end every acknowledged index holds its leaf (read from /v1/entries and
// from the entry bundles) and every checkpoint seen is consistent with every later one (proofs
// rebuilt from the hash tiles, and the JSON proof API cross-checked).
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Checkpoint } from "../../src/core/checkpoint.ts";
import { base64Encode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import {
  ackedMismatches,
  checkpointCovering,
  consistencyProblems,
  Ledger,
  latestCheckpoint,
  rollbacks,
  type Submitter,
  submitLoop,
  verifierKeyOf,
  watchCheckpoints,
} from "../support/faults-serve.ts";
import { ADMIN } from "../support/log.ts";
import { serve, tempDir } from "../support/serve.ts";

let db: TestDb | undefined;
beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
});
afterAll(() => db?.close());

it("three kill -9 rounds under concurrent load: nothing acknowledged is lost, no fork, no rollback", {
  timeout: 150_000,
}, async () => {
  const data = tempDir("tt-faults-crash-");
  const ledger = new Ledger();
  const seen: Checkpoint[] = [];
  const submitters: Submitter[] = [0, 1, 2].map((w) => ({ pane: `%k${w}`, next: 0 }));
  let vkey = "";
  let leafCounter = 0;
  let pendingLeaf: Uint8Array | undefined;
  const delays: number[] = [];
  for (let round = 0; round < 3; round++) {
    const s = await serve({ data, schema: db?.schema });
    vkey ||= verifierKeyOf(s);
    const verifier = parseVerifierKey(vkey);
    if (round > 0) {
      // Straight after the restart: no rollback, and every acknowledgement already there.
      const first = await latestCheckpoint(s.url, vkey);
      const before = seen.length ? seen[seen.length - 1]!.size : 0;
      expect(first.size, `round ${round}: checkpoint after restart`).toBeGreaterThanOrEqual(before);
      seen.push(first);
      const size = Math.max(-1, ...ledger.acked.keys()) + 1;
      const cp = await checkpointCovering(s.url, vkey, size);
      expect(await ackedMismatches(s.url, ledger.acked, cp.size), `round ${round}`).toEqual([]);
    }
    let stop = false;
    const load = submitLoop(s.url, submitters, ledger, () => stop, { batch: 20 });
    // Opaque leaves through POST /v1/leaves alongside the events.
    const leaves = (async () => {
      while (!stop) {
        pendingLeaf ??= new TextEncoder().encode(`fault drill opaque leaf ${leafCounter++}`);
        try {
          const res = await fetch(`${s.url}/v1/leaves`, {
            method: "POST",
            headers: {
              "Content-Type": "application/octet-stream",
              Authorization: `Bearer ${ADMIN}`,
            },
            body: pendingLeaf as unknown as BodyInit,
          });
          const text = await res.text();
          ledger.status(res.status, text);
          if (res.status === 200) {
            const a = JSON.parse(text) as { index: number; leafHash: string };
            expect(a.leafHash).toBe(base64Encode(rfc6962.leaf(pendingLeaf)));
            ledger.record([a]);
            pendingLeaf = undefined;
          }
        } catch {
          return;
        }
      }
    })();
    const watcher = watchCheckpoints(s.url, verifier, seen, () => stop);
    const delay = 150 + Math.floor(Math.random() * 1200);
    delays.push(delay);
    await new Promise((r) => setTimeout(r, delay));
    s.proc.child.kill("SIGKILL");
    await s.proc.exited;
    stop = true;
    await Promise.all([load, leaves, watcher]);
  }
  const s = await serve({ data, schema: db?.schema });
  try {
    const info = `kill delays ${delays.join(", ")} ms; statuses ${JSON.stringify([...ledger.statuses])}; ${ledger.bodies.join(" | ")}`;
    expect(ledger.acked.size, info).toBeGreaterThan(0);
    expect(ledger.clashes, info).toEqual([]);
    // Nothing but 200 while the process was alive (503 is allowed for a request racing the kill).
    for (const status of ledger.statuses.keys()) expect([200, 503], info).toContain(status);
    // The batches cut off by the last kill go through now, as leaves or duplicates.
    let stop = false;
    const retried = submitLoop(s.url, submitters, ledger, () => stop, { batch: 20 });
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await retried;
    expect(ledger.statuses.get(409) ?? 0, info).toBe(0);
    const size = Math.max(...ledger.acked.keys()) + 1;
    const latest = await checkpointCovering(s.url, vkey, size);
    expect(await ackedMismatches(s.url, ledger.acked, latest.size)).toEqual([]);
    expect(rollbacks(seen)).toEqual([]);
    expect(new Set(seen.map((c) => c.size)).size, info).toBeGreaterThan(2);
    expect(await consistencyProblems(s.url, seen, latest)).toEqual([]);
  } finally {
    s.proc.child.kill("SIGTERM");
    await s.proc.exited;
  }
});
