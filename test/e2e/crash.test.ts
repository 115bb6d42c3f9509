// kill -9 the log during a stream of submissions, restart: every acknowledged index holds the same
// leaf, and each new checkpoint is consistent with every earlier one.
import { afterAll, beforeAll, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode } from "../../src/core/encoding.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { verifyConsistency } from "../../src/core/proof-verify.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { getJson, postEvents, serve, tempDir } from "../support/serve.ts";
import { until } from "../support/wait.ts";

let db: TestDb | undefined;
beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
});
afterAll(() => db?.close());

it("kill -9 under load loses nothing acknowledged and forks nothing", {
  timeout: 180_000,
}, async () => {
  const data = tempDir();
  const acked = new Map<number, string>();
  const notes: string[] = [];
  let vkey = "";
  const seqs = [0, 0, 0];
  for (let round = 0; round < 3; round++) {
    const s = await serve({ data, schema: db?.schema });
    vkey ||= s.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
    let stop = false;
    const workers = seqs.map(async (_, w) => {
      while (!stop) {
        const batch = makeBatch(25, seqs[w]!, { pane: `%w${w}` });
        try {
          const res = await postEvents(s.url, batch);
          if (res.status !== 200) continue;
          const out = (await res.json()) as { index: number; leafHash: string }[];
          for (const r of out) acked.set(r.index, r.leafHash);
          seqs[w]! += 25;
        } catch {
          return; // the server died mid-request: not acknowledged
        }
      }
    });
    const watcher = (async () => {
      while (!stop) {
        try {
          notes.push(await (await fetch(`${s.url}/checkpoint`)).text());
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Under load: the kill comes after this round's first acknowledgement (a busy machine can
    // take longer than the random delay to answer the first batch), then at a random moment.
    const before = acked.size;
    const ready = Date.now() + 30_000;
    while (acked.size === before && Date.now() < ready) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 400 + Math.random() * 600));
    s.proc.child.kill("SIGKILL");
    await s.proc.exited;
    stop = true;
    await Promise.all([...workers, watcher]);
  }
  expect(acked.size).toBeGreaterThan(0);
  const s = await serve({ data, schema: db?.schema });
  try {
    const verifier = parseVerifierKey(vkey);
    // Every acknowledged index holds the same leaf.
    const [maxIndex] = [Math.max(...acked.keys())];
    await getJson(`${s.url}/v1/entries/${maxIndex}`);
    for (const [index, leafHash] of acked) {
      const e = await getJson<{ leafHash: string }>(`${s.url}/v1/entries/${index}`);
      expect(e.leafHash, `index ${index}`).toBe(leafHash);
    }
    // The newest checkpoint is consistent with every earlier one seen.
    await until(
      async () =>
        openCheckpoint(await (await fetch(`${s.url}/checkpoint`)).text(), [verifier]).checkpoint
          .size > maxIndex,
      30_000,
      "a checkpoint past the last acknowledged index",
    );
    const latest = openCheckpoint(await (await fetch(`${s.url}/checkpoint`)).text(), [
      verifier,
    ]).checkpoint;
    expect(latest.size).toBeGreaterThan(maxIndex);
    const seen = new Map<number, Uint8Array>();
    for (const n of notes) {
      if (!n.includes("\n\n")) continue;
      const cp = openCheckpoint(n, [verifier]).checkpoint;
      seen.set(cp.size, cp.root);
    }
    expect(seen.size).toBeGreaterThan(1);
    for (const [size, root] of seen) {
      if (size === 0 || size === latest.size) continue;
      const p = await getJson<{ proof: string[] }>(
        `${s.url}/v1/proof/consistency?from=${size}&to=${latest.size}`,
      );
      verifyConsistency(
        size,
        latest.size,
        p.proof.map((h) => base64Decode(h)),
        root,
        latest.root,
      );
    }
  } finally {
    s.proc.child.kill("SIGTERM");
    await s.proc.exited;
  }
});
