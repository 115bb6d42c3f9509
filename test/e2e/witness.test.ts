// Witnesses as real processes: a log with two witnesses and a quorum of 2, a fork drill between
// two gossiping witnesses, and a kill -9 between the witness's state write and its answer.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { type Proc, run } from "../support/proc.ts";
import { serve, tempDir } from "../support/serve.ts";
import { MemoryLog } from "../support/tree.ts";
import { until } from "../support/wait.ts";

interface W {
  proc: Proc;
  url: string;
  key: string;
}

async function startWitness(
  args: string[],
  env: Record<string, string> = {},
  data = tempDir(),
): Promise<W> {
  const proc = run(["witness", "--port", "0", "--data", data, ...args], {
    DATABASE_URL: "",
    ...env,
  });
  const key = (await proc.waitFor(/cosignature key\s+(\S+)/, 60_000))[1]!;
  const url = proc.stdout().match(/listening on (http:\/\/\S+)/)![1]!;
  return { proc, url, key };
}

async function stop(...ps: { proc: Proc }[]) {
  for (const p of ps) p.proc.child.kill("SIGTERM");
  await Promise.all(ps.map((p) => p.proc.exited));
}

describe("a log with two witnesses and a quorum of 2", () => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    if (process.env.DATABASE_URL) db = await openTestDb();
  });
  afterAll(() => db?.close());

  it("?wait=checkpoint answers with a checkpoint that carries both cosignatures, and they verify", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const origin = "e2e.tmuxtrail/log";
    const k = generateKey(origin, new Uint8Array(32).fill(31));
    writeFileSync(join(dir, "log.key"), `${k.signerKey}\n`, { mode: 0o600 });
    const spec = `${origin}=${k.verifierKey}`;
    const [w1, w2] = await Promise.all([
      startWitness(["--log", spec]),
      startWitness(["--log", spec]),
    ]);
    const s = await serve({
      data: dir,
      schema: db?.schema,
      args: [
        "--key",
        join(dir, "log.key"),
        "--witness",
        `${w1.key}@${w1.url}`,
        "--witness",
        `${w2.key}@${w2.url}`,
        "--witness-quorum",
        "2",
      ],
    });
    try {
      const res = await fetch(`${s.url}/v1/events?wait=checkpoint`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify(makeBatch(10, 0, { pane: "%wit" })),
      });
      expect(res.status).toBe(200);
      const acks = (await res.json()) as { index: number }[];
      const note = await (await fetch(`${s.url}/checkpoint`)).text();
      const o = openCheckpoint(
        note,
        [parseVerifierKey(k.verifierKey)],
        [parseVerifierKey(w1.key), parseVerifierKey(w2.key)],
        2,
      );
      expect(o.checkpoint.size).toBeGreaterThan(Math.max(...acks.map((a) => a.index)));
      expect(o.witnesses).toHaveLength(2);
      const m = await (
        await fetch(`${s.url}/metrics`, { headers: { Authorization: `Bearer ${ADMIN}` } })
      ).text();
      expect(m).toContain("tmuxtrail_witness_size");
      // Active mode: a third witness follows the log by itself, checking consistency from the
      // log's tiles, and serves what it cosigned on the monitoring read.
      const w3 = await startWitness(["--log", `${spec}@${s.url}`, "--poll-interval", "200ms"]);
      try {
        const hash = createHash("sha256").update(origin).digest("hex");
        const size = await until(
          async () => {
            const r = await fetch(`${w3.url}/${hash}/checkpoint`);
            if (!r.ok) return undefined;
            const { checkpoint } = openCheckpoint(
              await r.text(),
              [parseVerifierKey(k.verifierKey)],
              [parseVerifierKey(w3.key)],
              1,
            );
            return checkpoint.size >= o.checkpoint.size && checkpoint.size;
          },
          30_000,
          `the active witness's cosigned checkpoint of size ${o.checkpoint.size}`,
        );
        expect(size).toBeGreaterThanOrEqual(o.checkpoint.size);
      } finally {
        await stop(w3);
      }
    } finally {
      await stop(s, w1, w2);
    }
  });
});

describe("fork drill", () => {
  it("two gossiping witnesses shown inconsistent checkpoints both record evidence and refuse to cosign further", {
    timeout: 120_000,
  }, async () => {
    const log = new MemoryLog("fork.tmuxtrail/log", 41);
    const fork = new MemoryLog("fork.tmuxtrail/log", 41, "evil");
    const spec = `${log.origin}=${log.key.verifierKey}`;
    const dirs = [tempDir(), tempDir()];
    // A webhook receiver for the alerts.
    const alerts: { event: string; origin: string }[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        alerts.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/alert`;
    // Start both to learn their URLs, then restart each with the other as a peer.
    const first = await Promise.all(dirs.map((d) => startWitness(["--log", spec], {}, d)));
    await stop(...first);
    const [a, b] = await Promise.all(
      dirs.map((d, i) =>
        startWitness(
          [
            "--log",
            spec,
            "--peer",
            first[1 - i]!.url,
            "--gossip-interval",
            "200ms",
            "--port",
            first[i]!.url.split(":").pop()!,
            "--alert-url",
            hookUrl,
          ],
          {},
          d,
        ),
      ),
    );
    try {
      const post = (w: W, body: string) =>
        fetch(`${w!.url}/add-checkpoint`, { method: "POST", body });
      expect(
        (await post(a!, formatAddCheckpoint({ old: 0, proof: [], checkpoint: log.checkpoint(8) })))
          .status,
      ).toBe(200);
      expect(
        (await post(b!, formatAddCheckpoint({ old: 0, proof: [], checkpoint: fork.checkpoint(8) })))
          .status,
      ).toBe(200);
      const evidence = async (w: W) => {
        const found = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
        return found.length > 0 && found;
      };
      const ea = await until(() => evidence(a!), 30_000, "fork evidence on the first witness");
      await until(() => evidence(b!), 30_000, "fork evidence on the second witness");
      expect(a!.proc.stderr()).toMatch(/ALERT: fork evidence/);
      // A timeout here is reported by the expectation below, with the witness's stderr.
      await until(async () => alerts.length >= 2, 30_000, "two alerts").catch(() => undefined);
      expect(alerts.length, a!.proc.stderr()).toBeGreaterThanOrEqual(2);
      expect(alerts[0]).toMatchObject({ event: "fork", origin: log.origin });
      expect(
        (
          await post(
            a!,
            formatAddCheckpoint({
              old: 8,
              proof: await log.proof(8, 12),
              checkpoint: log.checkpoint(12),
            }),
          )
        ).status,
      ).toBe(422);
      // The evidence re-checks offline with only the log's key.
      const file = join(tempDir(), "evidence.json");
      writeFileSync(file, JSON.stringify(ea));
      const v = run(["verify-evidence", file, "--log-key", log.key.verifierKey]);
      expect(await v.exited).toBe(0);
      expect(v.stdout()).toMatch(/fork of fork\.tmuxtrail\/log proven/);
      const other = new MemoryLog("fork.tmuxtrail/log", 42);
      const bad = run(["verify-evidence", file, "--log-key", other.key.verifierKey]);
      expect(await bad.exited).toBe(1);
    } finally {
      await stop(a!, b!);
      hook.close();
    }
  });
});

describe("restart drill", () => {
  it("kill -9 between the state write and the answer: after restart it neither forgets its size nor cosigns a rollback", {
    timeout: 120_000,
  }, async () => {
    const log = new MemoryLog("restart.tmuxtrail/log", 51);
    const spec = `${log.origin}=${log.key.verifierKey}`;
    const data = tempDir();
    const w = await startWitness(
      ["--log", spec],
      { TMUXTRAIL_FAULT: "witness-after-commit" },
      data,
    );
    const answer = await fetch(`${w.url}/add-checkpoint`, {
      method: "POST",
      body: formatAddCheckpoint({ old: 0, proof: [], checkpoint: log.checkpoint(20) }),
    }).catch(() => null);
    expect(answer).toBeNull(); // it died before answering
    await w.proc.exited;
    const again = await startWitness(["--log", spec], {}, data);
    try {
      const post = (body: string) => fetch(`${again.url}/add-checkpoint`, { method: "POST", body });
      const retry = await post(
        formatAddCheckpoint({ old: 0, proof: [], checkpoint: log.checkpoint(20) }),
      );
      expect(retry.status).toBe(409);
      expect(await retry.text()).toBe("20\n");
      const rollback = await post(
        formatAddCheckpoint({ old: 0, proof: [], checkpoint: log.checkpoint(10) }),
      );
      expect(rollback.status).toBe(409);
      expect(
        (await post(formatAddCheckpoint({ old: 20, proof: [], checkpoint: log.checkpoint(10) })))
          .status,
      ).toBe(400);
      expect(
        (
          await post(
            formatAddCheckpoint({
              old: 20,
              proof: await log.proof(20, 25),
              checkpoint: log.checkpoint(25),
            }),
          )
        ).status,
      ).toBe(200);
    } finally {
      await stop(again);
    }
  });
});
