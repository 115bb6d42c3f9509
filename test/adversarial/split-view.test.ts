// The attacker is the log's operator, key in hand, showing witness W1 one tree and W2 another,
// always at different sizes so that no two heads of one size ever meet, and withholding from each
// witness the tiles of the other's view. Gossip catches it: the witness holding the larger head
// keeps the tiles of its own view and serves them, and a proof built from them that reproduces
// its signed root and implies another root at the smaller size is evidence (rule 1). A comparison
// that cannot be completed is counted, logged, alerted, and, when the peer's signed head is known,
// holds cosigning past the deadline (a silent or junk-serving peer never does). An
// honest log seen at different sizes raises nothing, nor does a peer serving rewritten tiles
// prove anything. A log cannot make a witness keep or serve tiles that do not hash to a checkpoint
// it cosigned. Verifiers are warned when their quorum (k of n, 2k <= n) would let two groups of
// witnesses be shown two trees.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { serve as serveHttp } from "@hono/node-server";
import { afterAll, describe, expect, it, vi } from "vitest";
import { monitor } from "../../src/cli/monitor.ts";
import { verify } from "../../src/cli/verify.ts";
import { verifyEvidenceCommand } from "../../src/cli/verify-evidence.ts";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { treeRoot } from "../../src/core/proof.ts";
import { quorumWarning } from "../../src/core/quorum.ts";
import { foldPerfect, tileNodeReader } from "../../src/core/tile-reader.ts";
import { hashTilePath } from "../../src/core/tiles.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { witnessApp } from "../../src/witness/app.ts";
import { followLog, gossipWith, originHash } from "../../src/witness/gossip.ts";
import { syncTiles } from "../../src/witness/tile-store.ts";
import { startWitness } from "../../src/witness/witness.ts";
import { until } from "../support/agent.ts";
import { openTestDb, usingPostgres } from "../support/db.ts";
import { flipByte, lyingProxy, makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { type Proc, run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";
import { staticServer } from "../support/static-server.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const W1 = generateKey("witness.example/w1", new Uint8Array(32).fill(91));
const W2 = generateKey("witness.example/w2", new Uint8Array(32).fill(92));

/** One view of the log: a directory of tlog-tiles files served at `url`, signed with the log key. */
async function view(log: MemoryLog, forkAt?: number) {
  const dir = tempDir("tt-split-");
  const server = await staticServer(dir);
  closers.push(() => server.close());
  return {
    url: server.url,
    paths: server.paths,
    publish: (size: number) =>
      writeTree(dir, makeLeaves(size, forkAt ?? size), size, log.key.signerKey, log.origin),
  };
}

/** A witness of `log` with its own database, served on a real port; following `logUrl` if given. */
async function witness(log: MemoryLog, key: { signerKey: string }, logUrl?: string) {
  const db = await openTestDb(WITNESS_MIGRATIONS);
  closers.push(() => db.close());
  let clock = 1_800_000_000;
  const deps = { ...witnessOf(db.sql, log, key), now: () => clock };
  const holds: string[] = [];
  const silentPeers: string[] = [];
  deps.onHold = (origin, detail, held) => (held ? holds : silentPeers).push(`${origin}: ${detail}`);
  const wlog = deps.logs.get(log.origin)!;
  wlog.url = logUrl;
  const lines: string[] = [];
  const app = witnessApp(deps, (m) => lines.push(m));
  const server = serveHttp({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((r) => server.once("listening", () => r()));
  closers.push(
    () =>
      new Promise<void>((r) => {
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
        server.close(() => r());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const metric = async (name: string) => {
    const text = await (await app.request("/metrics")).text();
    const m = new RegExp(`^${name}\\{origin="${log.origin}"\\} (\\d+)$`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return {
    deps,
    url,
    lines,
    holds,
    silentPeers,
    metric,
    advance: (seconds: number) => {
      clock += seconds;
    },
    follow: () => followLog(deps, wlog, (m) => lines.push(m)),
    gossip: (peer: string) => gossipWith(deps, peer, wlog, (m) => lines.push(m)),
    add: (old: number, proof: Uint8Array[], checkpoint: string) =>
      app.request("/add-checkpoint", {
        method: "POST",
        body: formatAddCheckpoint({ old, proof, checkpoint }),
      }),
    size: async () => {
      const res = await app.request(`/${originHash(log.origin)}/checkpoint`);
      return res.status === 200
        ? openCheckpoint(await res.text(), [parseVerifierKey(log.key.verifierKey)]).checkpoint.size
        : 0;
    },
    evidence: async () => (await (await app.request("/v1/evidence")).json()) as unknown[],
    tile: (path: string) => app.request(`/${originHash(log.origin)}/${path}`),
  };
}

async function verifyEvidenceCli(evidence: unknown, logKey: string) {
  const file = join(tempDir("tt-split-evidence-"), "evidence.json");
  writeFileSync(file, JSON.stringify(evidence));
  const spy = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    return await verifyEvidenceCommand.run([file, "--log-key", logKey]);
  } finally {
    spy.mockRestore();
  }
}

describe("a log showing W1 and W2 two trees, always at different sizes", () => {
  it("is caught by gossip from the tiles the witness with the larger head kept: both record evidence verify-evidence accepts, and neither cosigns either view further", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("split.example/log", 93);
    // The same key signs both views; they agree on leaves 0..4 and differ from leaf 5 on.
    const a = await view(log);
    const b = await view(log, 5);
    const w1 = await witness(log, W1, a.url);
    const w2 = await witness(log, W2, b.url);
    for (const [na, nb] of [
      [8, 9],
      [40, 41],
      [70, 71],
    ] as const) {
      a.publish(na);
      b.publish(nb);
      await w1.follow();
      await w2.follow();
    }
    expect([await w1.size(), await w2.size()]).toEqual([70, 71]);
    // Each view's server has only its own tree: W1's log does not serve size 71.
    await w1.gossip(w2.url);
    await w2.gossip(w1.url);
    const e1 = await w1.evidence();
    const e2 = await w2.evidence();
    expect(e1.map((e) => (e as { kind: string }).kind)).toEqual(["inconsistent"]);
    expect(e2.map((e) => (e as { kind: string }).kind)).toEqual(["inconsistent"]);
    expect(await verifyEvidenceCli(e1, log.key.verifierKey)).toBe(0);
    expect(await verifyEvidenceCli(e2, log.key.verifierKey)).toBe(0);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(0);
    // Neither view gets a further cosignature.
    a.publish(72);
    b.publish(73);
    await w1.follow();
    await w2.follow();
    expect([await w1.size(), await w2.size()]).toEqual([70, 71]);
  });
});

describe("a comparison that cannot be completed", () => {
  it("tiles withheld by the log from a passive peer's larger head: counted on /metrics, logged each round, alerted once past the deadline, cosigning beyond our size held (503) until the comparison completes", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("withheld.example/log", 94);
    const origin = await view(log);
    let withhold = true;
    const proxy = await lyingProxy(origin.url, (path) =>
      withhold && path.startsWith("/tile/")
        ? { status: 404, body: new TextEncoder().encode("withheld\n") }
        : undefined,
    );
    closers.push(() => proxy.close());
    const w1 = await witness(log, W1, proxy.url);
    const w2 = await witness(log, W2); // passive: no log URL, no tiles
    // The log's directory keeps the partial tiles of every size it published.
    for (const n of [70, 71, 72, 75]) origin.publish(n);
    expect((await w1.add(0, [], log.checkpoint(70))).status).toBe(200);
    expect((await w2.add(0, [], log.checkpoint(71))).status).toBe(200);
    await w1.gossip(w2.url);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(1);
    expect(await w1.metric("tmuxtrail_witness_cosigning_held")).toBe(0);
    expect(w1.lines.join("\n")).toMatch(/UNRECONCILED/);
    // Within the deadline, cosigning goes on.
    expect((await w1.add(70, await log.proof(70, 72), log.checkpoint(72))).status).toBe(200);
    w1.advance(301);
    await w1.gossip(w2.url);
    await w1.gossip(w2.url);
    expect(w1.holds).toHaveLength(1);
    expect(await w1.metric("tmuxtrail_witness_cosigning_held")).toBe(1);
    const held = await w1.add(72, await log.proof(72, 75), log.checkpoint(75));
    expect(held.status).toBe(503);
    expect(await held.text()).toMatch(/held/);
    // The same head again is not "beyond": still cosigned.
    expect((await w1.add(72, [], log.checkpoint(72))).status).toBe(200);
    // The log serves its tiles again: the comparison (our 72, the peer's 71) completes, and so
    // does the hold.
    withhold = false;
    await w1.gossip(w2.url);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(0);
    expect(await w1.metric("tmuxtrail_witness_cosigning_held")).toBe(0);
    expect((await w1.add(72, await log.proof(72, 75), log.checkpoint(75))).status).toBe(200);
    expect(await w1.evidence()).toEqual([]);
  });

  it("an unreachable peer is counted unreconciled, never skipped", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("down.example/log", 95);
    const w1 = await witness(log, W1);
    expect((await w1.add(0, [], log.checkpoint(10))).status).toBe(200);
    await w1.gossip("http://127.0.0.1:1");
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(1);
    expect(w1.lines.join("\n")).toMatch(/unreachable/);
  });
});

describe("a log showing two trees to witnesses that peer one way only", () => {
  it("the witness with the larger head, passive and without tiles, never settles a comparison it did not complete: the split view is counted, alerted and held, though the peer never gossips back", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("asym.example/log", 98);
    const a = await view(log);
    const b = await view(log, 5);
    a.publish(70);
    b.publish(41);
    const noteA = await (await fetch(`${a.url}/checkpoint`)).text();
    const noteB = await (await fetch(`${b.url}/checkpoint`)).text();
    const w1 = await witness(log, W1); // passive, lists W2 as a peer
    const w2 = await witness(log, W2); // passive, does not list W1
    expect((await w1.add(0, [], noteA)).status).toBe(200);
    expect((await w2.add(0, [], noteB)).status).toBe(200);
    await w1.gossip(w2.url);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(1);
    expect(w1.lines.join("\n")).toMatch(/UNRECONCILED.*our size 70 and the peer's 41/);
    w1.advance(301);
    await w1.gossip(w2.url);
    expect(w1.holds).toHaveLength(1);
    expect(await w1.metric("tmuxtrail_witness_cosigning_held")).toBe(1);
    a.publish(75);
    const next = await (await fetch(`${a.url}/checkpoint`)).text();
    expect((await w1.add(70, await log.proof(70, 75), next)).status).toBe(503);
  });
});

describe("a peer that is unreachable or answers junk", () => {
  it("is counted, logged and alerted past the deadline, but never holds cosigning: only a peer's head signed by the log that cannot be compared does", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("junk-peer.example/log", 99);
    const junk = serveHttp({
      fetch: (req) =>
        new URL(req.url).pathname.endsWith("/checkpoint") && req.url.includes("junk")
          ? new Response("not a checkpoint\n")
          : new Response("boom\n", { status: 500 }),
      port: 0,
      hostname: "127.0.0.1",
    });
    await new Promise<void>((r) => junk.once("listening", () => r()));
    closers.push(() => new Promise<void>((r) => junk.close(() => r())));
    const base = `http://127.0.0.1:${(junk.address() as { port: number }).port}`;
    const w1 = await witness(log, W1);
    expect((await w1.add(0, [], log.checkpoint(10))).status).toBe(200);
    const peers = [`${base}/junk`, `${base}/error`, "http://127.0.0.1:1"];
    for (const p of peers) await w1.gossip(p);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(3);
    w1.advance(301);
    for (const p of peers) await w1.gossip(p);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(3);
    expect(await w1.metric("tmuxtrail_witness_cosigning_held")).toBe(0);
    expect(w1.holds).toEqual([]);
    expect(w1.silentPeers).toHaveLength(3);
    expect(w1.lines.join("\n")).toMatch(/cosigning is not held/);
    expect((await w1.add(10, await log.proof(10, 12), log.checkpoint(12))).status).toBe(200);
  });
});

describe("an honest log seen by the witnesses at different sizes", () => {
  it("raises nothing: through the peer's tiles when the log withholds them, through the log's when the peer has none", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("honest-split.example/log", 96);
    const origin = await view(log);
    let withhold = false;
    const proxy = await lyingProxy(origin.url, (path) =>
      withhold && path.startsWith("/tile/") ? { status: 404, body: new Uint8Array() } : undefined,
    );
    closers.push(() => proxy.close());
    const w1 = await witness(log, W1, proxy.url);
    const w2 = await witness(log, W2, proxy.url);
    const w3 = await witness(log, generateKey("witness.example/w3", new Uint8Array(32).fill(97)));
    origin.publish(300);
    await w2.follow();
    origin.publish(301);
    await w1.follow();
    expect((await w3.add(0, [], origin.publish(302))).status).toBe(200);
    expect([await w1.size(), await w2.size()]).toEqual([301, 300]);
    // The log withholds its tiles: W2 compares through W1's, W1 through its own.
    withhold = true;
    await w2.gossip(w1.url);
    await w1.gossip(w2.url);
    // The passive W3 has no tiles: W1 compares through the log's. W3, with the larger head, no
    // tiles and no log URL, cannot complete the comparison itself (it counts it, never leaving it
    // to a peer that may not gossip with it); it completes once W1 follows the log to 302.
    withhold = false;
    await w1.gossip(w3.url);
    await w3.gossip(w1.url);
    expect(await w3.metric("tmuxtrail_witness_unreconciled_heads")).toBe(1);
    await w1.follow();
    await w3.gossip(w1.url);
    for (const w of [w1, w2, w3]) {
      expect(await w.evidence()).toEqual([]);
      expect(await w.metric("tmuxtrail_witness_unreconciled_heads"), w.lines.join("\n")).toBe(0);
      expect(w.deps.metrics.badTiles.get({ origin: log.origin }) ?? 0).toBe(0);
      expect(w.holds).toEqual([]);
    }
  });
});

describe("a peer witness serving rewritten tiles", () => {
  it("proves nothing: counted as bad tiles, not evidence, and the comparison completes through the log's tiles", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("lying-peer.example/log", 101);
    const origin = await view(log);
    const w1 = await witness(log, W1, origin.url);
    const w2 = await witness(log, W2, origin.url);
    origin.publish(300);
    await w1.follow();
    origin.publish(301);
    await w2.follow();
    const peer = await lyingProxy(w2.url, (path, answer) =>
      path.includes("/tile/") && answer.status === 200
        ? { status: 200, body: flipByte(answer.body, 0) }
        : undefined,
    );
    closers.push(() => peer.close());
    await w1.gossip(peer.url);
    expect(peer.paths.some((p) => p.includes("/tile/"))).toBe(true);
    expect(await w1.evidence()).toEqual([]);
    expect(w1.deps.metrics.badTiles.get({ origin: log.origin })).toBe(1);
    expect(await w1.metric("tmuxtrail_witness_unreconciled_heads")).toBe(0);
  });
});

describe("the tiles a witness keeps and serves", () => {
  it("are exactly the log's tiles at the cosigned size, in the tlog-tiles layout; a tile beyond it is 404", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("served.example/log", 98);
    const origin = await view(log);
    const w = await witness(log, W1, origin.url);
    origin.publish(600);
    await w.follow();
    for (const t of [
      { level: 0, index: 0, width: 256 },
      { level: 0, index: 2, width: 88 },
      { level: 0, index: 2, width: 10 },
      { level: 1, index: 0, width: 2 },
    ]) {
      const res = await w.tile(hashTilePath(t));
      expect(res.status, hashTilePath(t)).toBe(200);
      const want = await (
        await fetch(`${origin.url}/${hashTilePath({ ...t, width: t.index === 2 ? 88 : t.width })}`)
      ).arrayBuffer();
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(
        new Uint8Array(want).subarray(0, t.width * 32),
      );
    }
    expect((await w.tile("tile/0/002.p/89")).status).toBe(404);
    expect((await w.tile("tile/0/003.p/1")).status).toBe(404);
    expect((await w.tile("tile/entries/000")).status).toBe(404);
  });

  it("a log feeding the witness tiles that do not hash to the checkpoint it cosigned gets none of them kept or served", {
    timeout: 300_000,
  }, async () => {
    const log = new MemoryLog("lying-tiles.example/log", 99);
    const origin = await view(log);
    let lie = "";
    const proxy = await lyingProxy(origin.url, (path, answer) =>
      lie && path === lie && answer.status === 200
        ? { status: 200, body: flipByte(answer.body, 5) }
        : undefined,
    );
    closers.push(() => proxy.close());
    const w = await witness(log, W1, proxy.url);
    origin.publish(600);
    // A full level-0 tile (bound through its level-1 parent), then the partial one (through the root).
    for (const path of ["/tile/0/001", "/tile/0/002.p/88", "/tile/1/000.p/2"]) {
      lie = path;
      await w.follow();
      expect(await w.size()).toBe(600);
      expect((await w.tile("tile/0/001")).status, path).toBe(404);
      expect((await w.tile("tile/0/002.p/88")).status, path).toBe(404);
    }
    expect(w.deps.metrics.badTiles.get({ origin: log.origin })).toBe(3);
    lie = "";
    await w.follow();
    expect((await w.tile("tile/0/001")).status).toBe(200);
    expect((await w.tile("tile/0/002.p/88")).status).toBe(200);
  });
});

describe("a hostile log signing a huge tree", () => {
  it("cannot make the witness fetch or hold more than a bounded number of tiles per round: 2^40 leaves (16.8M tiles above level 0) are kept top level first, a budget a round, resumed at the next", {
    timeout: 300_000,
  }, async () => {
    // A coherent tree of 2^40 equal leaves: every node of one height has one value.
    const byLevel: Uint8Array[] = [new Uint8Array(32).fill(7)];
    for (let l = 1; l <= 5; l++)
      byLevel.push(
        foldPerfect(
          new Uint8Array(256 * 32).map((_, i) => byLevel[l - 1]![i % 32]!),
          0,
          256,
          nodeHasher,
        ),
      );
    let calls = 0;
    const fetchTile = async (level: number, _index: number, width: number) => {
      calls++;
      if (calls > 10_000) throw new Error("more than 10,000 tile fetches in one round");
      const t = new Uint8Array(width * 32);
      for (let i = 0; i < width; i++) t.set(byLevel[level]!, i * 32);
      return t;
    };
    const size = 2 ** 40;
    const root = await treeRoot(size, tileNodeReader(size, fetchTile, nodeHasher), nodeHasher);
    const db = await openTestDb(WITNESS_MIGRATIONS);
    closers.push(() => db.close());
    const stored = async () =>
      Number(
        (await db.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM witness_tiles"))[0]!.n,
      );
    let before = 0;
    for (let round = 0; round < 2; round++) {
      calls = 0;
      const r = await syncTiles(
        db.sql,
        "huge.example/log",
        { size, root },
        fetchTile,
        nodeHasher,
        100,
      );
      expect(calls).toBeLessThanOrEqual(100 + 8);
      expect(r.missing).toBeGreaterThan(16_000_000);
      expect((await stored()) - before).toBeLessThanOrEqual(100 + 8);
      expect(await stored()).toBeGreaterThan(before);
      before = await stored();
    }
    // The top level first: the full tile of level 4, then those of level 3.
    const levels = await db.sql.query<{ level: number }>(
      "SELECT DISTINCT level FROM witness_tiles WHERE width = 256 ORDER BY level",
    );
    expect(levels.map((l) => Number(l.level))).toEqual([3, 4]);
    // And a round stops at its time budget, storing what it bound.
    calls = 0;
    let t = 0;
    await syncTiles(
      db.sql,
      "huge.example/log",
      { size, root },
      fetchTile,
      nodeHasher,
      1000,
      50,
      () => (t += 10),
    );
    expect(calls).toBeLessThanOrEqual(5 + 8);
  });
});

describe("a log that answers slowly", () => {
  it("does not delay the following and cosigning of another log by the same witness", {
    timeout: 120_000,
  }, async () => {
    const stuck = serveHttp({
      fetch: () => new Promise<Response>(() => {}),
      port: 0,
      hostname: "127.0.0.1",
    });
    await new Promise<void>((r) => stuck.once("listening", () => r()));
    closers.push(
      () =>
        new Promise<void>((r) => {
          (stuck as unknown as { closeAllConnections(): void }).closeAllConnections();
          stuck.close(() => r());
        }),
    );
    const slow = new MemoryLog("slow.example/log", 100);
    const fast = new MemoryLog("fast.example/log", 101);
    const v = await view(fast);
    v.publish(20);
    const wdb = usingPostgres ? await openTestDb(WITNESS_MIGRATIONS) : undefined;
    const w = await startWitness(
      {
        port: 0,
        host: "127.0.0.1",
        dataDir: tempDir("tt-slow-log-"),
        databaseUrl: wdb?.url,
        databaseSchema: wdb?.schema,
        logs: [
          {
            origin: slow.origin,
            vkeys: [slow.key.verifierKey],
            url: `http://127.0.0.1:${(stuck.address() as { port: number }).port}`,
          },
          { origin: fast.origin, vkeys: [fast.key.verifierKey], url: v.url },
        ],
        peers: [],
        gossipIntervalMs: 60_000,
        pollIntervalMs: 100,
      },
      () => {},
    );
    closers.push(async () => {
      await w.close();
      await wdb?.close();
    });
    // A read of the stuck log takes its 10 s deadline; the other log is cosigned well before.
    await until(
      async () => (await fetch(`${w.url}/${originHash(fast.origin)}/checkpoint`)).status === 200,
      5_000,
      "the fast log cosigned while the slow one hangs",
    );
  });
});

describe("the quorum rule (2k > n)", () => {
  it("a quorum that lets two groups of witnesses be shown two trees is warned about by verify and monitor, in the web UI's words; one that does not is not", {
    timeout: 60_000,
  }, async () => {
    expect(quorumWarning(1, 2)).toMatch(/does not rule out a split view .*at least 2/);
    expect(quorumWarning(2, 4)).toMatch(/two groups of 2 witnesses two different trees/);
    expect(quorumWarning(0, 3)).toMatch(/at least 2/);
    expect(quorumWarning(2, 3)).toBeUndefined();
    expect(quorumWarning(0, 0)).toBeUndefined();
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((m: string) => void errors.push(m));
    const out = vi.spyOn(console, "log").mockImplementation(() => {});
    const log = new MemoryLog("quorum.example/log", 100);
    const policy = [
      "--log",
      "http://127.0.0.1:1",
      "--log-key",
      log.key.verifierKey,
      "--witness-key",
      generateKey("w.example/a", new Uint8Array(32).fill(1)).verifierKey,
      "--witness-key",
      generateKey("w.example/b", new Uint8Array(32).fill(2)).verifierKey,
      "--quorum",
      "1",
      "--timeout",
      "1s",
    ];
    try {
      // The log is not there: only the warning at start matters here.
      await verify.run(["checkpoint", ...policy]).catch(() => 2);
      const state = join(tempDir("tt-split-monitor-"), "state");
      await monitor.run([...policy, "--state", state]).catch(() => 2);
    } finally {
      spy.mockRestore();
      out.mockRestore();
    }
    for (const command of ["verify", "monitor"]) {
      expect(errors.join("\n")).toMatch(
        new RegExp(
          `${command}: warning: a quorum of 1 of 2 witnesses does not rule out a split view`,
        ),
      );
    }
  });
});

describe("the quorum rule at the start of serve and the agent", () => {
  it("serve and the agent warn on stderr at start when their quorum has 2k <= n", {
    timeout: 90_000,
  }, async () => {
    const keys = [1, 2].map(
      (i) => generateKey(`w.example/${i}`, new Uint8Array(32).fill(70 + i)).verifierKey,
    );
    // serve asks each witness at a URL; the agent only checks their cosignatures.
    const witnesses = keys.flatMap((k) => ["--witness", `${k}@http://127.0.0.1:1`]);
    const witnessKeys = keys.flatMap((k) => ["--witness", k]);
    const dir = tempDir("tt-split-warn-");
    writeFileSync(join(dir, "token"), "tt_unused", { mode: 0o600 });
    const warned = (p: Proc, command: string) =>
      until(
        async () =>
          new RegExp(
            `${command}: warning: a quorum of 1 of 2 witnesses does not rule out a split view`,
          ).test(p.stderr()) || undefined,
        60_000,
        `${command}'s warning`,
      );
    const procs = [
      [
        run(
          [
            "serve",
            "--port",
            "0",
            "--data",
            join(dir, "log"),
            ...witnesses,
            "--witness-quorum",
            "1",
          ],
          { DATABASE_URL: "" },
        ),
        "tmuxtrail",
      ],
      [
        run([
          "agent",
          "--log",
          "http://127.0.0.1:1",
          "--token-file",
          join(dir, "token"),
          "--host",
          "warn-host",
          "-L",
          `tt-warn-${process.pid}`,
          "--spool",
          join(dir, "spool"),
          "--log-key",
          generateKey("warn.example/log", new Uint8Array(32).fill(80)).verifierKey,
          ...witnessKeys,
          "--witness-quorum",
          "1",
        ]),
        "tmuxtrail agent",
      ],
    ] as const;
    try {
      for (const [p, command] of procs) await warned(p, command);
    } finally {
      for (const [p] of procs) {
        p.child.kill("SIGKILL");
        await p.exited;
      }
    }
  });
});
