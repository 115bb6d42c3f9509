// `tmuxtrail mirror`: a real served log copied into a directory, the directory served by a plain
// static file server, and the verifying commands and a witness in active mode reading the log
// from that static URL alone. Incremental rounds leave full tiles untouched; a tampered mirror
// fails verification; forks and rollbacks (hand-written logs signed with the test key) are alarms
// that leave the mirror unchanged; --watch loops, and a reader polling the directory meanwhile
// never sees a checkpoint whose tiles are missing.

import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLogSource } from "../../src/client/log-source.ts";
import { TileTree, verifyRootFromTiles } from "../../src/client/verified-reader.ts";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode } from "../../src/core/encoding.ts";
import { generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN, ORIGIN, TEST_KEY } from "../support/log.ts";
import { flipByte, lyingProxy, makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { type Proc, run } from "../support/proc.ts";
import { type Served, serve, tempDir } from "../support/serve.ts";
import { type StaticServer, staticServer } from "../support/static-server.ts";
import { until } from "../support/wait.ts";

async function tmuxtrail(...args: string[]) {
  const p = run(args);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

const key = ["--log-key", TEST_KEY.verifierKey];

async function append(url: string, n: number, from: number): Promise<void> {
  const res = await fetch(`${url}/v1/events?wait=checkpoint`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(makeBatch(n, from, { pane: "%mirror" })),
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
}

/** Every file under `dir` (relative path → bytes as hex digest), dotfiles included. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

const stop = async (p: Proc) => {
  p.child.kill("SIGTERM");
  await p.exited;
};

describe("tmuxtrail mirror of a served log, read back through a static file server", () => {
  let db: TestDb | undefined;
  let log: Served;
  let web: StaticServer;
  const out = tempDir("tmuxtrail-mirror-");
  const tokenFile = join(tempDir(), "read.token");
  let first: { size: number; root: string };

  beforeAll(async () => {
    if (process.env.DATABASE_URL) db = await openTestDb();
    const data = tempDir();
    writeFileSync(join(data, "log.key"), `${TEST_KEY.signerKey}\n`, { mode: 0o600 });
    writeFileSync(tokenFile, `${ADMIN}\n`, { mode: 0o600 });
    log = await serve({ data, schema: db?.schema, args: ["--key", join(data, "log.key")] });
    web = await staticServer(out);
    await append(log.url, 300, 0);
  }, 90_000);
  afterAll(async () => {
    await web?.close();
    if (log) await stop(log.proc);
    await db?.close();
  });

  it("a first round writes the checkpoint, the tiles and the bundles; verify reads them from the static URL", {
    timeout: 60_000,
  }, async () => {
    const m = await tmuxtrail(
      "mirror",
      "--log",
      log.url,
      ...key,
      "--out",
      out,
      "--entries",
      "--token-file",
      tokenFile,
      "--json",
    );
    expect(m.code, m.err).toBe(0);
    const r = JSON.parse(m.out);
    expect(r).toMatchObject({ ok: true, command: "mirror", status: "initial", origin: ORIGIN });
    expect(r.size).toBeGreaterThanOrEqual(300);
    expect(r.tilesWritten).toBeGreaterThanOrEqual(3);
    expect(r.bundlesWritten).toBe(Math.ceil(r.size / 256));
    first = { size: r.size, root: r.root };
    expect(readFileSync(join(out, "checkpoint"), "utf8")).toContain(`\n${r.size}\n${r.root}\n`);
    expect(existsSync(join(out, "tile/0/000"))).toBe(true);
    expect(existsSync(join(out, `tile/0/001.p/${r.size - 256}`))).toBe(true);
    expect(existsSync(join(out, "tile/1/000.p/1"))).toBe(true);
    expect(existsSync(join(out, "tile/entries/000"))).toBe(true);
    expect(existsSync(join(out, ".mirror.lock"))).toBe(false);

    const check = await tmuxtrail("verify", "checkpoint", "--log", web.url, ...key, "--all-tiles");
    expect(check.code, check.err).toBe(0);
    expect(check.out).toMatch(/all 1 full tiles agree/);
    // The leaf from the log's own API, proven against the mirror's tiles.
    const entry = (await (
      await fetch(`${log.url}/v1/entries/7`, { headers: { Authorization: `Bearer ${ADMIN}` } })
    ).json()) as { leaf: string };
    const leafFile = join(tempDir(), "leaf.bin");
    writeFileSync(leafFile, base64Decode(entry.leaf));
    const inc = await tmuxtrail(
      "verify",
      "inclusion",
      "--log",
      web.url,
      ...key,
      "--index",
      "7",
      "--leaf",
      leafFile,
    );
    expect(inc.code, inc.err).toBe(0);
    expect(inc.out).toMatch(/leaf 7 is included/);
    // And from the mirror's entry bundle, which the static server hands out without a token.
    const fromBundle = await tmuxtrail(
      "verify",
      "inclusion",
      "--log",
      web.url,
      ...key,
      "--index",
      "290",
    );
    expect(fromBundle.code, fromBundle.err).toBe(0);
    // Only plain tile paths and the checkpoint were asked of the static server.
    expect(web.paths.every((p) => p === "/checkpoint" || p.startsWith("/tile/"))).toBe(true);
  });

  it("a second round after more events fetches only what is new, leaves full tiles untouched, and stays consistent", {
    timeout: 60_000,
  }, async () => {
    const saved = join(tempDir(), "saved.checkpoint");
    cpSync(join(out, "checkpoint"), saved);
    const full = statSync(join(out, "tile/0/000"));
    const bundle = statSync(join(out, "tile/entries/000"));
    const oldPartial = join(out, "tile/0/001.p");
    expect(existsSync(oldPartial)).toBe(true);
    await append(log.url, 300, 300);
    const proxy = await lyingProxy(log.url);
    try {
      const m = await tmuxtrail(
        "mirror",
        "--log",
        proxy.url,
        ...key,
        "--out",
        out,
        "--entries",
        "--token-file",
        tokenFile,
        "--json",
      );
      expect(m.code, m.err).toBe(0);
      const r = JSON.parse(m.out);
      expect(r).toMatchObject({ ok: true, status: "advanced", from: first.size });
      expect(r.size).toBeGreaterThanOrEqual(first.size + 300);
      // Immutable files were neither fetched nor rewritten.
      expect(proxy.paths).not.toContain("/tile/0/000");
      expect(proxy.paths).not.toContain("/tile/entries/000");
      const again = statSync(join(out, "tile/0/000"));
      expect([again.ino, again.mtimeMs]).toEqual([full.ino, full.mtimeMs]);
      const bundleAgain = statSync(join(out, "tile/entries/000"));
      expect([bundleAgain.ino, bundleAgain.mtimeMs]).toEqual([bundle.ino, bundle.mtimeMs]);
      // tile/0/001 is full now: its partials are gone (readers fall back to the full tile).
      expect(existsSync(join(out, "tile/0/001"))).toBe(true);
      expect(existsSync(oldPartial)).toBe(false);
      expect(r.partialsRemoved).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
    }
    const cons = await tmuxtrail(
      "verify",
      "consistency",
      "--log",
      web.url,
      ...key,
      "--from",
      saved,
    );
    expect(cons.code, cons.err).toBe(0);
    expect(cons.out).toMatch(new RegExp(`size ${first.size} .*is consistent`));
    // Nothing new: the next round writes nothing.
    const still = await tmuxtrail("mirror", "--log", web.url, ...key, "--out", out, "--json");
    expect(still.code, still.err).toBe(0);
    expect(JSON.parse(still.out)).toMatchObject({
      status: "unchanged",
      tilesWritten: 0,
      bundlesWritten: 0,
    });
  });

  it("monitor follows the mirror through the plain static server", async () => {
    const size = Number(readFileSync(join(out, "checkpoint"), "utf8").split("\n")[1]);
    const state = join(tempDir(), "log.checkpoint");
    const m = await tmuxtrail("monitor", "--log", web.url, ...key, "--state", state, "--json");
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out)).toMatchObject({ ok: true, status: "saved", size, origin: ORIGIN });
  });

  it("a witness in active mode following the mirror's URL cosigns its checkpoint", {
    timeout: 60_000,
  }, async () => {
    const size = Number(readFileSync(join(out, "checkpoint"), "utf8").split("\n")[1]);
    const w = run(
      [
        "witness",
        "--port",
        "0",
        "--data",
        tempDir(),
        "--log",
        `${ORIGIN}=${TEST_KEY.verifierKey}@${web.url}`,
        "--poll-interval",
        "200ms",
      ],
      { DATABASE_URL: "" },
    );
    try {
      const wkey = (await w.waitFor(/cosignature key\s+(\S+)/, 30_000))[1]!;
      const wurl = w.stdout().match(/listening on (http:\/\/\S+)/)![1]!;
      const hash = createHash("sha256").update(ORIGIN).digest("hex");
      const cosigned = async (want: number) => {
        for (let i = 0; i < 100; i++) {
          const r = await fetch(`${wurl}/${hash}/checkpoint`);
          if (r.ok) {
            const o = openCheckpoint(
              await r.text(),
              [parseVerifierKey(TEST_KEY.verifierKey)],
              [parseVerifierKey(wkey)],
              1,
            );
            if (o.checkpoint.size >= want) return o.checkpoint.size;
          } else await r.body?.cancel();
          await new Promise((res) => setTimeout(res, 200));
        }
        throw new Error(`the witness did not cosign size ${want}; stderr: ${w.stderr()}`);
      };
      expect(await cosigned(size)).toBe(size);
      // The mirror advances; the witness checks consistency from the mirror's tiles and follows.
      await append(log.url, 40, 600);
      const m = await tmuxtrail("mirror", "--log", log.url, ...key, "--out", out, "--json");
      expect(m.code, m.err).toBe(0);
      const next = JSON.parse(m.out).size as number;
      expect(next).toBeGreaterThan(size);
      expect(await cosigned(next)).toBe(next);
      expect(w.stderr()).not.toMatch(/evidence|ALERT/);
    } finally {
      await stop(w);
    }
  });

  it("a tampered tile in a copy of the mirror fails verify checkpoint --all-tiles and inclusion with exit 1", {
    timeout: 60_000,
  }, async () => {
    const copy = tempDir("tmuxtrail-mirror-tampered-");
    cpSync(out, copy, { recursive: true });
    const tile = join(copy, "tile/0/000");
    writeFileSync(tile, flipByte(readFileSync(tile), 32 * 9 + 3));
    const bad = await staticServer(copy);
    try {
      const [all, inc] = await Promise.all([
        tmuxtrail("verify", "checkpoint", "--log", bad.url, ...key, "--all-tiles"),
        tmuxtrail("verify", "inclusion", "--log", bad.url, ...key, "--index", "8"),
      ]);
      expect(all.code, all.err).toBe(1);
      expect(all.err).toMatch(/tile\/0\/000 does not hash to entry 0 of tile\/1\/000\.p\/\d+/);
      expect(inc.code, inc.err).toBe(1);
      expect(inc.err).toMatch(/leaf 8 is not proven.*tile\/0\/000/);
    } finally {
      await bad.close();
    }
  });

  it("--watch mirrors every interval; a reader of the directory never sees a checkpoint without its tiles; SIGTERM exits 0", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir("tmuxtrail-mirror-watch-");
    const p = run([
      "mirror",
      "--log",
      log.url,
      ...key,
      "--out",
      dir,
      "--watch",
      "--interval",
      "100ms",
      "--json",
    ]);
    let reading = true;
    let reads = 0;
    const problems: string[] = [];
    const reader = (async () => {
      const source = openLogSource(dir);
      const keys = [parseVerifierKey(TEST_KEY.verifierKey)];
      while (reading) {
        if (existsSync(join(dir, "checkpoint"))) {
          try {
            const cp = openCheckpoint(await source.checkpoint(), keys).checkpoint;
            await verifyRootFromTiles(new TileTree(source), cp);
            reads++;
          } catch (e) {
            problems.push((e as Error).message);
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await p.waitFor(/"status":"initial"/, 30_000);
      const before = Number(readFileSync(join(dir, "checkpoint"), "utf8").split("\n")[1]);
      for (let i = 0; i < 3; i++) await append(log.url, 100, 700 + i * 100);
      const grown = before + 300;
      await until(
        async () => Number(readFileSync(join(dir, "checkpoint"), "utf8").split("\n")[1]) >= grown,
        30_000,
        `the mirror's checkpoint at size ${grown}`,
      );
      expect(p.stdout()).toMatch(/"status":"advanced"/);
      expect(
        Number(readFileSync(join(dir, "checkpoint"), "utf8").split("\n")[1]),
      ).toBeGreaterThanOrEqual(grown);
    } finally {
      reading = false;
      await reader;
      p.child.kill("SIGTERM");
    }
    expect(await p.exited, p.stderr()).toBe(0);
    expect(problems).toEqual([]);
    expect(reads).toBeGreaterThan(5);
    expect(existsSync(join(dir, ".mirror.lock"))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("tmuxtrail mirror of logs that fork, roll back or serve a bad tile", () => {
  /** A directory log of the first `size` leaves, forked from leaf `forkAt` on when given. */
  function treeDir(size: number, forkAt?: number): string {
    const dir = tempDir();
    writeTree(dir, makeLeaves(size, forkAt), size, TEST_KEY.signerKey, ORIGIN);
    return dir;
  }

  it("a fork, a same-size fork and a rollback are alarms: exit 1, the mirror unchanged", {
    timeout: 60_000,
  }, async () => {
    const out = tempDir();
    const a = await tmuxtrail("mirror", "--log", treeDir(300), ...key, "--out", out);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/size 300 .*first mirror/);
    const b = await tmuxtrail("mirror", "--log", treeDir(600), ...key, "--out", out);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/advanced from size 300/);
    const kept = snapshot(out);
    const f = await tmuxtrail("mirror", "--log", treeDir(700, 100), ...key, "--out", out, "--json");
    const s = await tmuxtrail("mirror", "--log", treeDir(600, 599), ...key, "--out", out);
    const rb = await tmuxtrail("mirror", "--log", treeDir(500), ...key, "--out", out);
    expect(f.code, f.err).toBe(1);
    expect(JSON.parse(f.out)).toMatchObject({
      ok: false,
      status: "alarm",
      alarm: { kind: "fork" },
    });
    expect(JSON.parse(f.out).alarm.message).toMatch(/size 700 .*size 600/);
    expect(s.code, s.err).toBe(1);
    expect(s.out).toMatch(/ALARM \(fork\): two checkpoints of size 600/);
    expect(rb.code, rb.err).toBe(1);
    expect(rb.out).toMatch(/ALARM \(rollback\).*size 500.*size 600/);
    expect(snapshot(out)).toEqual(kept);
  });

  it("an upstream full tile that does not hash to its parent fails with exit 1 and no checkpoint", async () => {
    const up = treeDir(600);
    const tile = join(up, "tile/0/001");
    writeFileSync(tile, flipByte(readFileSync(tile), 100));
    const out = tempDir();
    const r = await tmuxtrail("mirror", "--log", up, ...key, "--out", out);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/tile\/0\/001 does not hash to entry 1 of tile\/1\/000\.p\/2/);
    expect(existsSync(join(out, "checkpoint"))).toBe(false);
    expect(existsSync(join(out, "tile/0/001"))).toBe(false);
  });

  it("a checkpoint not signed by --log-key, an unreachable log and bad flags are refused", async () => {
    const other = [
      "--log-key",
      generateKey("other.example/log", new Uint8Array(32).fill(9)).verifierKey,
    ];
    const out = tempDir();
    const [unsigned, unreachable, noOut] = await Promise.all([
      tmuxtrail("mirror", "--log", treeDir(10), ...other, "--out", out),
      tmuxtrail("mirror", "--log", "http://127.0.0.1:1", ...key, "--out", tempDir()),
      tmuxtrail("mirror", "--log", treeDir(10), ...key),
    ]);
    expect(unsigned.code, unsigned.err).toBe(1);
    expect(unsigned.out).toMatch(
      /ALARM \(bad-checkpoint\).*not signed by the log key other\.example/,
    );
    expect(existsSync(join(out, "checkpoint"))).toBe(false);
    // A checkpoint without the witness quorum is not mirrored.
    const wkey = generateKey("witness.example/w", new Uint8Array(32).fill(3)).verifierKey;
    const noQuorum = await tmuxtrail(
      "mirror",
      "--log",
      treeDir(10),
      ...key,
      "--witness-key",
      wkey,
      "--out",
      out,
      "--json",
    );
    expect(noQuorum.code, noQuorum.err).toBe(1);
    expect(JSON.parse(noQuorum.out)).toMatchObject({ ok: false, error: { code: "quorum" } });
    expect(existsSync(join(out, "checkpoint"))).toBe(false);
    expect(unreachable.code).toBe(2);
    expect(noOut.code).toBe(2);
    expect(noOut.err).toMatch(/--out DIR is required/);
  });
});
