// Fault drill 3b: the witness goes down (kill -9) and comes back on the same port and data. A log
// with `--witness` and quorum 0 keeps signing and publishing checkpoints without the cosignature
// meanwhile, `?wait=checkpoint` is not held up, and once the witness is back it cosigns the
// newest checkpoint again (from the size it had cosigned: a consistency proof, no restart
// needed on the log's side).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openCheckpoint } from "../../src/log/checkpoint.ts";
import { cosignatureVerifierKey, generateKey, parseVerifierKey } from "../../src/log/keys.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { type Proc, run } from "../support/proc.ts";
import { serve, tempDir } from "../support/serve.ts";

let db: TestDb | undefined;
beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
});
afterAll(() => db?.close());

async function startWitness(args: string[], data: string) {
  const proc = run(["witness", "--data", data, ...args], { DATABASE_URL: "" });
  const key = (await proc.waitFor(/cosignature key\s+(\S+)/, 60_000))[1]!;
  const url = proc.stdout().match(/listening on (http:\/\/\S+)/)![1]!;
  return { proc, url, key };
}

it("witness down: checkpoints go on uncosigned (quorum 0); witness back: it cosigns again", {
  timeout: 120_000,
}, async () => {
  const dir = tempDir("tt-faults-witness-");
  const origin = "faults.tmuxtrail/log";
  const k = generateKey(origin, new Uint8Array(32).fill(61));
  writeFileSync(join(dir, "log.key"), `${k.signerKey}\n`, { mode: 0o600 });
  const spec = `${origin}=${k.verifierKey}`;
  const wdata = tempDir("tt-faults-wdata-");
  let w = await startWitness(["--port", "0", "--log", spec], wdata);
  const port = w.url.split(":").pop()!;
  const wkey = parseVerifierKey(cosignatureVerifierKey(w.key));
  const logKey = parseVerifierKey(k.verifierKey);
  const procs: Proc[] = [w.proc];
  const s = await serve({
    data: dir,
    schema: db?.schema,
    args: ["--key", join(dir, "log.key"), "--witness", `${w.key}@${w.url}`],
  });
  procs.push(s.proc);
  let seq = 0;
  const post = async (wait: boolean) => {
    const res = await fetch(`${s.url}/v1/events${wait ? "?wait=checkpoint" : ""}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(makeBatch(10, seq, { pane: "%wd" })),
      signal: AbortSignal.timeout(30_000),
    });
    expect(res.status).toBe(200);
    seq += 10;
    return Math.max(...((await res.json()) as { index: number }[]).map((a) => a.index)) + 1;
  };
  const served = async () => {
    const note = await (await fetch(`${s.url}/checkpoint`)).text();
    return openCheckpoint(note, [logKey], [wkey], 0);
  };
  const cosignedAtLeast = async (size: number, timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const o = await served();
      if (o.checkpoint.size >= size && o.witnesses.length === 1) return o;
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    // Up: the served checkpoint carries the witness's cosignature.
    const n1 = await post(false);
    const first = await cosignedAtLeast(n1, 20_000);
    expect(first, s.proc.stderr()).toBeDefined();
    // Down: submissions and ?wait=checkpoint go on; the newest checkpoints carry no cosignature.
    w.proc.child.kill("SIGKILL");
    await w.proc.exited;
    const t0 = Date.now();
    const n2 = await post(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const n3 = await post(true);
    await new Promise((r) => setTimeout(r, 500));
    const down = await served();
    expect(down.checkpoint.size).toBeGreaterThanOrEqual(Math.max(n2, n3));
    expect(down.witnesses).toHaveLength(0);
    expect(s.proc.stderr()).toMatch(/witness .*unreachable/);
    // Back on the same port and state: it cosigns the newest checkpoint again, by itself.
    w = await startWitness(["--port", port, "--log", spec], wdata);
    procs.push(w.proc);
    const n4 = await post(false);
    const tBack = Date.now();
    const back = await cosignedAtLeast(n4, 70_000);
    if (process.env.TT_FAULTS_DEBUG)
      console.warn(`cosigned again after ${Date.now() - tBack} ms; ${s.proc.stderr()}`);
    expect(back, s.proc.stderr()).toBeDefined();
    expect(back!.checkpoint.size).toBeGreaterThanOrEqual(n4);
    // The witness's own record agrees (monitoring API).
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256").update(origin).digest("hex");
    const mine = await (await fetch(`${w.url}/${hash}/checkpoint`)).text();
    const o = openCheckpoint(mine, [logKey], [wkey], 1);
    expect(o.checkpoint.size).toBeGreaterThanOrEqual(n4);
  } finally {
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
  }
});
