// `tmuxtrail verify` against a real served log (a child process), a lying proxy in front of it,
// and directories of tiles. Every proof is rebuilt from hash tiles: a lying tile is named, a lying
// proof API is never consulted.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../src/core/checkpoint.ts";
import { generateKey } from "../../src/core/keys.ts";
import { entriesPath, hashTilePath, TILE_WIDTH, tilesForSize } from "../../src/core/tiles.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN, ORIGIN, TEST_KEY } from "../support/log.ts";
import {
  flipByte,
  type LyingProxy,
  lyingProxy,
  makeLeaves,
  writeTree,
} from "../support/lying-proxy.ts";
import { run } from "../support/proc.ts";
import { type Served, serve, tempDir } from "../support/serve.ts";

async function tmuxtrail(...args: string[]) {
  const p = run(args);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

const key = ["--log-key", TEST_KEY.verifierKey];

async function append(url: string, n: number, from: number): Promise<number> {
  const res = await fetch(`${url}/v1/events?wait=checkpoint`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(makeBatch(n, from, { pane: "%verify" })),
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  return sizeOf(await (await fetch(`${url}/checkpoint`)).text());
}

/** The size of a checkpoint note (its signatures are not checked here). */
function sizeOf(note: string): number {
  return parseCheckpoint(`${note.split("\n\n")[0]}\n`).size;
}

/** Copies the served checkpoint, its hash tiles and entry bundles into a directory. */
async function mirror(url: string, dir: string): Promise<string> {
  const note = await (await fetch(`${url}/checkpoint`)).text();
  const size = sizeOf(note);
  const put = async (path: string, auth = false) => {
    const res = await fetch(`${url}/${path}`, {
      headers: auth ? { Authorization: `Bearer ${ADMIN}` } : {},
    });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    const file = join(dir, ...path.split("/"));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, new Uint8Array(await res.arrayBuffer()));
  };
  writeFileSync(join(dir, "checkpoint"), note);
  for (const t of tilesForSize(size)) await put(hashTilePath(t));
  for (let b = 0; b * TILE_WIDTH < size; b++)
    await put(entriesPath(b, Math.min(TILE_WIDTH, size - b * TILE_WIDTH)), true);
  return note;
}

describe("tmuxtrail verify against a served log", () => {
  let db: TestDb | undefined;
  let s: Served;
  let tokenFile: string;
  let next = 0;

  beforeAll(async () => {
    if (process.env.DATABASE_URL) db = await openTestDb();
    const dir = tempDir();
    writeFileSync(join(dir, "log.key"), `${TEST_KEY.signerKey}\n`, { mode: 0o600 });
    tokenFile = join(dir, "read.token");
    writeFileSync(tokenFile, `${ADMIN}\n`);
    s = await serve({ data: dir, schema: db?.schema, args: ["--key", join(dir, "log.key")] });
    await append(s.url, 300, 0);
    next = 300;
  });
  afterAll(async () => {
    s?.proc.child.kill("SIGTERM");
    await s?.proc.exited;
    await db?.close();
  });

  it("verify checkpoint: signed by the log key, tiles hash to its root; --json has the shape", async () => {
    const r = await tmuxtrail("verify", "checkpoint", "--log", s.url, ...key, "--json");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ ok: true, command: "checkpoint", origin: ORIGIN, witnesses: [] });
    expect(j.size).toBeGreaterThanOrEqual(300);
    expect(j.root).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const text = await tmuxtrail("verify", "checkpoint", "--log", s.url, ...key);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/origin\s+test\.tmuxtrail\/log/);
  });

  it("verify inclusion: the leaf from the entry bundle (with a read token) or from --leaf is proven", async () => {
    const [a, b] = await Promise.all([
      tmuxtrail(
        "verify",
        "inclusion",
        "--log",
        s.url,
        ...key,
        "--index",
        "10",
        "--token-file",
        tokenFile,
        "--json",
      ),
      tmuxtrail(
        "verify",
        "inclusion",
        "--log",
        s.url,
        ...key,
        "--index",
        "299",
        "--token-file",
        tokenFile,
      ),
    ]);
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out)).toMatchObject({
      ok: true,
      command: "inclusion",
      index: 10,
      leafSource: "entry bundle",
    });
    expect(b.code, b.err).toBe(0);
    // A leaf that is not the one at index 10 fails, naming the tile entry it differs from.
    const leaf = join(tempDir(), "leaf.bin");
    writeFileSync(leaf, "not this leaf");
    const bad = await tmuxtrail(
      "verify",
      "inclusion",
      "--log",
      s.url,
      ...key,
      "--index",
      "10",
      "--leaf",
      leaf,
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/leaf hash at index 10 differs from entry 10 of tile\/0\/000/);
    // Without a token the log refuses the bundle: exit 2, pointing at --token-file.
    const none = run(["verify", "inclusion", "--log", s.url, ...key, "--index", "10"], {
      TMUXTRAIL_TOKEN: "",
      TMUXTRAIL_ADMIN_TOKEN: "",
    });
    expect(await none.exited).toBe(2);
    expect(none.stderr()).toMatch(/--token-file/);
  });

  it("verify consistency: from a saved checkpoint file, and from a bare size with a warning", async () => {
    const saved = join(tempDir(), "saved.checkpoint");
    writeFileSync(saved, await (await fetch(`${s.url}/checkpoint`)).text());
    await append(s.url, 20, next);
    next += 20;
    const [file, size] = await Promise.all([
      tmuxtrail("verify", "consistency", "--log", s.url, ...key, "--from", saved, "--json"),
      tmuxtrail("verify", "consistency", "--log", s.url, ...key, "--from", "100"),
    ]);
    expect(file.code, file.err).toBe(0);
    const j = JSON.parse(file.out);
    expect(j).toMatchObject({
      ok: true,
      command: "consistency",
      from: { source: "checkpoint file" },
    });
    expect(j.size).toBeGreaterThan(j.from.size);
    expect(size.code, size.err).toBe(0);
    expect(size.err).toMatch(/warning: --from 100 is a bare size.*saved/s);
    const ahead = await tmuxtrail(
      "verify",
      "consistency",
      "--log",
      s.url,
      ...key,
      "--from",
      "100000",
    );
    expect(ahead.code).toBe(1);
  });

  it("a wrong log key or an unmet witness quorum fails with exit 1, naming which", async () => {
    const other = generateKey(ORIGIN, new Uint8Array(32).fill(9));
    const witness = generateKey("witness.example", new Uint8Array(32).fill(3));
    const [wrong, quorum] = await Promise.all([
      tmuxtrail("verify", "checkpoint", "--log", s.url, "--log-key", other.verifierKey),
      tmuxtrail(
        "verify",
        "checkpoint",
        "--log",
        s.url,
        ...key,
        "--witness-key",
        witness.verifierKey,
        "--quorum",
        "1",
        "--json",
      ),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/not signed by the log key/);
    expect(quorum.code).toBe(1);
    expect(JSON.parse(quorum.out)).toMatchObject({ ok: false, error: { code: "quorum" } });
  });

  describe("through a lying proxy", () => {
    const proxies: LyingProxy[] = [];
    afterAll(async () => {
      await Promise.all(proxies.map((p) => p.close()));
    });
    const proxy = async (lie: Parameters<typeof lyingProxy>[1]) => {
      const p = await lyingProxy(s.url, lie);
      proxies.push(p);
      return p;
    };

    it("one altered byte of a hash tile: verify inclusion and checkpoint exit 1 naming the tile", async () => {
      // Entry 11 of tile/0/000 is the sibling of leaf 10; entry 0 of tile/1/000.p/1 summarises
      // tile/0/000 and goes into the root.
      const level0 = await proxy((path, a) =>
        path === "/tile/0/000" ? { ...a, body: flipByte(a.body, 11 * 32) } : undefined,
      );
      const level1 = await proxy((path, a) =>
        path.startsWith("/tile/1/000") ? { ...a, body: flipByte(a.body, 5) } : undefined,
      );
      const [inc, cp] = await Promise.all([
        tmuxtrail(
          "verify",
          "inclusion",
          "--log",
          level0.url,
          ...key,
          "--index",
          "10",
          "--token-file",
          tokenFile,
        ),
        tmuxtrail("verify", "checkpoint", "--log", level1.url, ...key, "--json"),
      ]);
      expect(inc.code, inc.err).toBe(1);
      expect(inc.err).toMatch(/tile\/0\/000 does not hash to entry 0 of tile\/1\/000\.p\/1/);
      expect(cp.code, cp.out).toBe(1);
      const j = JSON.parse(cp.out);
      expect(j).toMatchObject({ ok: false, error: { code: "proof-mismatch" } });
      expect(j.error.message).toMatch(
        /tile\/0\/000 does not hash to entry 0 of tile\/1\/000\.p\/1/,
      );
    });

    it("a garbage proof API changes nothing: verify never asks it", async () => {
      const p = await proxy((path) =>
        path.startsWith("/v1/")
          ? { status: 200, body: new TextEncoder().encode('{"proof":["AAAA"]}') }
          : undefined,
      );
      const [inc, con] = await Promise.all([
        tmuxtrail(
          "verify",
          "inclusion",
          "--log",
          p.url,
          ...key,
          "--index",
          "7",
          "--token-file",
          tokenFile,
        ),
        tmuxtrail("verify", "consistency", "--log", p.url, ...key, "--from", "77"),
      ]);
      expect(inc.code, inc.err).toBe(0);
      expect(con.code, con.err).toBe(0);
      expect(p.paths.filter((x) => x.startsWith("/v1/"))).toEqual([]);
      expect(p.paths).toContain("/checkpoint");
    });
  });

  it("--log DIR: the same checks on a directory copy of the checkpoint, tiles and bundles", async () => {
    const dir = tempDir();
    await mirror(s.url, dir);
    const [cp, inc, con] = await Promise.all([
      tmuxtrail("verify", "checkpoint", "--log", dir, ...key),
      tmuxtrail("verify", "inclusion", "--log", dir, ...key, "--index", "5", "--json"),
      tmuxtrail("verify", "consistency", "--log", dir, ...key, "--from", "50"),
    ]);
    expect(cp.code, cp.err).toBe(0);
    expect(inc.code, inc.err).toBe(0);
    expect(JSON.parse(inc.out)).toMatchObject({ ok: true, index: 5 });
    expect(con.code, con.err).toBe(0);
  });

  it("an unreachable log or a missing directory is exit 2", async () => {
    const [http, dir] = await Promise.all([
      tmuxtrail("verify", "checkpoint", "--log", "http://127.0.0.1:1", ...key, "--json"),
      tmuxtrail("verify", "checkpoint", "--log", join(tempDir(), "nothing"), ...key),
    ]);
    expect(http.code).toBe(2);
    expect(JSON.parse(http.out)).toMatchObject({ ok: false, error: { code: "unreachable" } });
    expect(dir.code).toBe(2);
  });
});

describe("tmuxtrail verify on a directory written by hand", () => {
  it("a missing partial tile falls back to the full tile, truncated", async () => {
    const dir = tempDir();
    const leaves = makeLeaves(300);
    writeTree(dir, leaves, 300, TEST_KEY.signerKey, ORIGIN);
    // A checkpoint of size 100 needs tile/0/000.p/100, which this directory does not hold.
    const small = tempDir();
    writeTree(small, leaves, 100, TEST_KEY.signerKey, ORIGIN);
    writeFileSync(join(dir, "checkpoint"), readFileSync(join(small, "checkpoint")));
    const r = await tmuxtrail("verify", "checkpoint", "--log", dir, ...key, "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, size: 100 });
  });

  it("--all-tiles finds a lying full tile that the root does not depend on", async () => {
    const dir = tempDir();
    writeTree(dir, makeLeaves(300), 300, TEST_KEY.signerKey, ORIGIN);
    // The root of size 300 folds tile/1/000.p/1, not tile/0/000 itself.
    const file = join(dir, "tile", "0", "000");
    writeFileSync(file, flipByte(readFileSync(file), 100));
    const [root, all] = await Promise.all([
      tmuxtrail("verify", "checkpoint", "--log", dir, ...key),
      tmuxtrail("verify", "checkpoint", "--log", dir, ...key, "--all-tiles"),
    ]);
    expect(root.code, root.err).toBe(0);
    expect(all.code).toBe(1);
    expect(all.err).toMatch(/tile\/0\/000 does not hash to entry 0 of tile\/1\/000\.p\/1/);
  });

  it("usage errors are exit 2 and --help shows examples", async () => {
    const [none, noKey, help] = await Promise.all([
      tmuxtrail("verify"),
      tmuxtrail("verify", "checkpoint", "--log", "x"),
      tmuxtrail("verify", "--help"),
    ]);
    expect(none.code).toBe(2);
    expect(noKey.code).toBe(2);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Examples:/);
  });
});
