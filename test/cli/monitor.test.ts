// `tmuxtrail monitor`: a first run saves the checkpoint, a grown log is checked for consistency
// from its tiles and advances the state; a rollback, a same-size fork and a forked history signed
// with the log's own key are alarms (exit 1, state kept, alert POSTed). Forks are served from
// directories written by hand with the test key, since the real log never produces one.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/core/keys.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN, ORIGIN, TEST_KEY } from "../support/log.ts";
import { makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { run } from "../support/proc.ts";
import { serve, tempDir } from "../support/serve.ts";

async function tmuxtrail(...args: string[]) {
  const p = run(args);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

const key = ["--log-key", TEST_KEY.verifierKey];

/** A directory log of the first `size` leaves, forked from leaf `forkAt` on when given. */
function treeDir(size: number, forkAt?: number): string {
  const dir = tempDir();
  writeTree(dir, makeLeaves(size, forkAt), size, TEST_KEY.signerKey, ORIGIN);
  return dir;
}

/** A webhook receiver collecting JSON bodies. */
async function hook() {
  const got: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      got.push(JSON.parse(body));
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/alert`, got, close: () => server.close() };
}

async function append(url: string, n: number, from: number): Promise<void> {
  const res = await fetch(`${url}/v1/events?wait=checkpoint`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(makeBatch(n, from, { pane: "%monitor" })),
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
}

describe("tmuxtrail monitor against a served log", () => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    if (process.env.DATABASE_URL) db = await openTestDb();
  });
  afterAll(() => db?.close());

  it("the first run saves the checkpoint; after more events the next run rebuilds the consistency proof and advances", {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "log.key"), `${TEST_KEY.signerKey}\n`, { mode: 0o600 });
    const s = await serve({ data: dir, schema: db?.schema, args: ["--key", join(dir, "log.key")] });
    try {
      await append(s.url, 40, 0);
      const state = join(tempDir(), "log.checkpoint");
      const first = await tmuxtrail("monitor", "--log", s.url, ...key, "--state", state, "--json");
      expect(first.code, first.err).toBe(0);
      const a = JSON.parse(first.out);
      expect(a).toMatchObject({ ok: true, command: "monitor", status: "saved", origin: ORIGIN });
      expect(readFileSync(state, "utf8")).toMatch(/^test\.tmuxtrail\/log\n\d+\n/);
      const again = await tmuxtrail("monitor", "--log", s.url, ...key, "--state", state);
      expect(again.code, again.err).toBe(0);
      expect(again.out).toMatch(/unchanged/);
      await append(s.url, 300, 40);
      const second = await tmuxtrail("monitor", "--log", s.url, ...key, "--state", state, "--json");
      expect(second.code, second.err).toBe(0);
      const b = JSON.parse(second.out);
      expect(b).toMatchObject({ ok: true, status: "advanced", from: a.size });
      expect(b.size).toBeGreaterThanOrEqual(a.size + 300);
      expect(readFileSync(state, "utf8")).toContain(`\n${b.size}\n${b.root}\n`);
    } finally {
      s.proc.child.kill("SIGTERM");
      await s.proc.exited;
    }
  });

  it("an unreachable log is exit 2 in one round, and the state file is not created", async () => {
    const state = join(tempDir(), "log.checkpoint");
    const r = await tmuxtrail("monitor", "--log", "http://127.0.0.1:1", ...key, "--state", state);
    expect(r.code).toBe(2);
    expect(existsSync(state)).toBe(false);
  });
});

describe("tmuxtrail monitor against forked and rolled-back logs signed with the log key", () => {
  it("a forked history, a same-size fork and a rollback are alarms: exit 1, state kept, alert POSTed", async () => {
    const state = join(tempDir(), "log.checkpoint");
    const saved = await tmuxtrail("monitor", "--log", treeDir(20), ...key, "--state", state);
    expect(saved.code, saved.err).toBe(0);
    const advanced = await tmuxtrail("monitor", "--log", treeDir(30), ...key, "--state", state);
    expect(advanced.code, advanced.err).toBe(0);
    expect(advanced.out).toMatch(/advanced from size 20/);
    const kept = readFileSync(state, "utf8");
    const h = await hook();
    try {
      const [history, sameSize, rollback] = await Promise.all([
        tmuxtrail(
          "monitor",
          "--log",
          treeDir(40, 5),
          ...key,
          "--state",
          state,
          "--alert-url",
          h.url,
        ),
        tmuxtrail("monitor", "--log", treeDir(30, 29), ...key, "--state", state, "--json"),
        tmuxtrail("monitor", "--log", treeDir(10), ...key, "--state", state),
      ]);
      expect(history.code, history.err).toBe(1);
      expect(history.out).toMatch(/ALARM \(fork\).*size 40.*size 30.*tile\/0\/000\.p\/40/);
      expect(sameSize.code).toBe(1);
      expect(JSON.parse(sameSize.out)).toMatchObject({ ok: false, alarm: { kind: "fork" } });
      expect(rollback.code).toBe(1);
      expect(rollback.out).toMatch(/ALARM \(rollback\).*size 10.*saved size 30/);
      expect(readFileSync(state, "utf8")).toBe(kept);
      expect(h.got).toHaveLength(1);
      expect(h.got[0]).toMatchObject({ event: "fork", origin: ORIGIN, saved: kept });
      expect(String(h.got[0]!.served)).toMatch(/\n40\n/);
    } finally {
      h.close();
    }
  });

  it("with --interval it loops: SIGTERM ends it with 0; an alarm ends it with 1; unreachable rounds are retried", async () => {
    const state = join(tempDir(), "log.checkpoint");
    const loop = run([
      "monitor",
      "--log",
      treeDir(20),
      ...key,
      "--state",
      state,
      "--interval",
      "100ms",
    ]);
    await loop.waitFor(/first checkpoint saved/);
    await loop.waitFor(/unchanged/);
    loop.child.kill("SIGTERM");
    expect(await loop.exited).toBe(0);

    const down = run([
      "monitor",
      "--log",
      "http://127.0.0.1:1",
      ...key,
      "--state",
      state,
      "--interval",
      "100ms",
    ]);
    // Waits on the condition (a start-up under load takes seconds), bounded by the test's timeout.
    while ((down.stderr().match(/round failed/g) ?? []).length < 2)
      await new Promise((r) => setTimeout(r, 100));
    expect((down.stderr().match(/round failed/g) ?? []).length).toBeGreaterThanOrEqual(2);
    down.child.kill("SIGINT");
    expect(await down.exited).toBe(0);

    const fork = run([
      "monitor",
      "--log",
      treeDir(25, 3),
      ...key,
      "--state",
      state,
      "--interval",
      "100ms",
    ]);
    expect(await fork.exited).toBe(1);
    expect(fork.stdout()).toMatch(/ALARM \(fork\)/);
  });

  it("a checkpoint signed by another key is an alarm; usage errors are exit 2", async () => {
    const state = join(tempDir(), "log.checkpoint");
    const other = generateKey(ORIGIN, new Uint8Array(32).fill(9));
    const dir = tempDir();
    writeTree(dir, makeLeaves(5), 5, other.signerKey, ORIGIN);
    const [bad, noState] = await Promise.all([
      tmuxtrail("monitor", "--log", dir, ...key, "--state", state),
      tmuxtrail("monitor", "--log", dir, ...key),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/ALARM \(bad-checkpoint\).*not signed by the log key/);
    expect(existsSync(state)).toBe(false);
    expect(noState.code).toBe(2);
  });
});
