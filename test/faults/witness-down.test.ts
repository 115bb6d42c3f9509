// Fault drill 3b: the witness goes down (kill -9) and comes back on the same port and data. A log
// with `--witness` and quorum 0 keeps signing and publishing checkpoints without the cosignature
// meanwhile, `?wait=checkpoint` is not held up, and once the witness is back it cosigns the
// newest checkpoint again (from the size it had cosigned: a consistency proof, no restart
// needed on the log's side). With quorum 1, checkpoints still publish uncosigned, but
// `?wait=checkpoint` answers 504 checkpoint-timeout (listing the sequenced leaves) until the
// witness is back.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { cosignatureVerifierKey, generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { type Proc, run } from "../support/proc.ts";
import { serve, tempDir } from "../support/serve.ts";
import { until } from "../support/wait.ts";

// Each test its own log (a log's database belongs to its key).
let db: TestDb | undefined;
beforeEach(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
});
afterEach(() => db?.close());

async function startWitness(args: string[], data: string) {
  const proc = run(["witness", "--data", data, ...args], { DATABASE_URL: "" });
  const key = (await proc.waitFor(/cosignature key\s+(\S+)/, 60_000))[1]!;
  const url = proc.stdout().match(/listening on (http:\/\/\S+)/)![1]!;
  return { proc, url, key };
}

/** A log with its own key asking one witness (restartable on the same port and data). */
async function logWithWitness(origin: string, seed: number, serveArgs: string[] = []) {
  const dir = tempDir("tt-faults-witness-");
  const k = generateKey(origin, new Uint8Array(32).fill(seed));
  writeFileSync(join(dir, "log.key"), `${k.signerKey}\n`, { mode: 0o600 });
  const spec = `${origin}=${k.verifierKey}`;
  const wdata = tempDir("tt-faults-wdata-");
  const w = await startWitness(["--port", "0", "--log", spec], wdata);
  const port = w.url.split(":").pop()!;
  const s = await serve({
    data: dir,
    schema: db?.schema,
    args: ["--key", join(dir, "log.key"), "--witness", `${w.key}@${w.url}`, ...serveArgs],
  });
  return {
    k,
    w,
    s,
    procs: [w.proc, s.proc] as Proc[],
    restartWitness: () => startWitness(["--port", port, "--log", spec], wdata),
  };
}

it("witness down: checkpoints go on uncosigned (quorum 0); witness back: it cosigns again", {
  timeout: 120_000,
}, async () => {
  const origin = "faults.tmuxtrail/log";
  const log = await logWithWitness(origin, 61);
  const { k, s, procs } = log;
  let w = log.w;
  const wkey = parseVerifierKey(cosignatureVerifierKey(w.key));
  const logKey = parseVerifierKey(k.verifierKey);
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
    await until(
      async () => {
        const o = await served();
        return (
          /witness .*unreachable/.test(s.proc.stderr()) &&
          o.checkpoint.size >= Math.max(n2, n3) &&
          o.witnesses.length === 0
        );
      },
      30_000,
      "an uncosigned checkpoint and the witness reported unreachable",
    );
    const down = await served();
    expect(down.checkpoint.size).toBeGreaterThanOrEqual(Math.max(n2, n3));
    expect(down.witnesses).toHaveLength(0);
    expect(s.proc.stderr()).toMatch(/witness .*unreachable/);
    // Back on the same port and state: it cosigns the newest checkpoint again, by itself.
    w = await log.restartWitness();
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

it("witness down with quorum 1: checkpoints publish uncosigned, ?wait=checkpoint answers 504 with the sequenced leaves", {
  timeout: 120_000,
}, async () => {
  const log = await logWithWitness("faults.tmuxtrail/quorum", 62, [
    "--witness-quorum",
    "1",
    "--wait-timeout",
    "3s",
  ]);
  const { k, s, procs } = log;
  let w = log.w;
  const batch = (seq: number) => JSON.stringify(makeBatch(10, seq, { pane: "%wq" }));
  const post = (body: string) =>
    fetch(`${s.url}/v1/events?wait=checkpoint`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
      body,
      signal: AbortSignal.timeout(30_000),
    });
  const logKey = parseVerifierKey(k.verifierKey);
  try {
    /** Posts the same body until it is answered 200 (504 while no cosigned checkpoint covers it). */
    const until200 = async (body: string, ms: number) => {
      const end = Date.now() + ms;
      let status = 0;
      while (status !== 200 && Date.now() < end) status = (await post(body)).status;
      return status;
    };
    // Up: answered once a cosigned checkpoint covers the events (a fresh witness may take a while).
    expect(await until200(batch(0), 30_000), s.proc.stderr()).toBe(200);
    // Down: 504 after --wait-timeout, the leaves sequenced and listed.
    w.proc.child.kill("SIGKILL");
    await w.proc.exited;
    const t0 = Date.now();
    const second = batch(10);
    const timedOut = await post(second);
    expect(timedOut.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
    expect(timedOut.headers.get("Retry-After")).toBe("5");
    const body = (await timedOut.json()) as {
      error: { code: string; message: string; results: { index: number; duplicate: boolean }[] };
    };
    expect(body.error.code).toBe("checkpoint-timeout");
    expect(body.error.message).toMatch(/sequenced .* 1 witness cosignature/);
    expect(body.error.results).toHaveLength(10);
    const top = Math.max(...body.error.results.map((r) => r.index));
    const entry = await fetch(`${s.url}/v1/entries/${top}`, {
      headers: { Authorization: `Bearer ${ADMIN}` },
    });
    expect(entry.status).toBe(200);
    // Checkpoints still publish, uncosigned.
    const note = await (await fetch(`${s.url}/checkpoint`)).text();
    expect(openCheckpoint(note, [logKey]).checkpoint.size).toBeGreaterThan(top);
    // The same request again: duplicates, and the same 504 while the witness is away.
    const againRes = await post(second);
    const again = (await againRes.json()) as typeof body;
    expect(againRes.status, JSON.stringify(again)).toBe(504);
    expect(again.error.results.every((r) => r.duplicate)).toBe(true);
    // Back: the next wait is answered.
    w = await log.restartWitness();
    procs.push(w.proc);
    // 504 while the log has not reached the witness again; the same body each time (duplicates).
    expect(await until200(batch(20), 60_000), s.proc.stderr()).toBe(200);
  } finally {
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
  }
});
