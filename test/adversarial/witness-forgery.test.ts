// The attacker forges through the witness: fork "evidence" made of two honest checkpoints and a
// few junk hashes, to discredit an honest log; tiles rewritten on the way to a gossiping witness,
// so that it records a fork that is not one; extra signature lines smuggled into an add-checkpoint
// body, for the witness to republish under its own name. Each is refused. A real fork is still
// proven (verify-evidence exit 0), and after it the witness adds no further evidence: what it
// serves on /v1/evidence passes verify-evidence as a whole.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { verifyEvidenceCommand } from "../../src/cli/verify-evidence.ts";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Encode, hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { sha256 } from "../../src/core/hash.ts";
import {
  cosignatureVerifierKey,
  generateKey,
  parseSignerKey,
  parseVerifierKey,
} from "../../src/core/keys.ts";
import { signatureLine, splitNote } from "../../src/core/note.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import type { WitnessDeps, WitnessedLog } from "../../src/witness/add-checkpoint.ts";
import { witnessApp } from "../../src/witness/app.ts";
import { followLog, gossipWith } from "../../src/witness/gossip.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { flipByte, lyingProxy, makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { tempDir } from "../support/serve.ts";
import { type StaticServer, staticServer } from "../support/static-server.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

const W = generateKey("witness.example/forgery", new Uint8Array(32).fill(71));
let db: TestDb;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await openTestDb(WITNESS_MIGRATIONS);
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await db?.close();
});

/** A witness of `log` in the shared database (each test its own origin), following `url`. */
function witness(log: MemoryLog, url?: string) {
  const deps: WitnessDeps = witnessOf(db.sql, log, W);
  const wlog: WitnessedLog = deps.logs.get(log.origin)!;
  wlog.url = url;
  const lines: string[] = [];
  const app = witnessApp(deps, (m) => lines.push(m));
  const add = (old: number, proof: Uint8Array[], checkpoint: string) =>
    app.request("/add-checkpoint", {
      method: "POST",
      body: formatAddCheckpoint({ old, proof, checkpoint }),
    });
  // The database is shared by this file's tests, each with its own origin.
  const evidence = async () =>
    (
      (await (await app.request("/v1/evidence")).json()) as { origin: string; kind: string }[]
    ).filter((e) => e.origin === log.origin);
  const served = async () =>
    (await app.request(`/${hexEncode(sha256(utf8Encode(log.origin)))}/checkpoint`)).text();
  const follow = () => followLog(deps, wlog, (m) => lines.push(m));
  return { deps, wlog, app, add, evidence, served, follow, lines };
}

/** A log written to a directory by hand (see lying-proxy.ts) and served by a static server. */
async function dirLog(log: MemoryLog) {
  const dir = tempDir("tt-forgery-");
  const server: StaticServer = await staticServer(dir);
  closers.push(() => server.close());
  return {
    url: server.url,
    /** Publishes the first `size` of `leaves` (default: the honest history) as the log's state. */
    publish: (size: number, leaves = makeLeaves(size)) =>
      writeTree(dir, leaves, size, log.key.signerKey, log.origin),
  };
}

/** A peer witness that serves `note()` on the monitoring read for `origin`. */
async function peerServing(origin: string, note: () => string): Promise<string> {
  const path = `/${hexEncode(sha256(utf8Encode(origin)))}/checkpoint`;
  const server: Server = createServer((req, res) => {
    res.writeHead(req.url === path ? 200 : 404, { "Content-Type": "text/plain" });
    res.end(req.url === path ? note() : "not found\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/**
 * Runs `tmuxtrail verify-evidence FILE --log-key KEY --json` on `evidence`, in process (the command
 * main.ts runs; its return value is the exit code): the exit code and the --json results.
 */
async function verifyEvidenceCli(evidence: unknown, logKey: string) {
  const file = join(tempDir("tt-evidence-"), "evidence.json");
  writeFileSync(file, JSON.stringify(evidence));
  const out: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((m: string) => void out.push(m));
  try {
    const code = await verifyEvidenceCommand.run([file, "--log-key", logKey, "--json"]);
    const json = JSON.parse(out.join("\n")) as { ok: boolean; results: { ok: boolean }[] };
    return { code, out: json, stderr: out.join("\n") };
  } finally {
    spy.mockRestore();
  }
}

const junk = (n: number) => Array.from({ length: n }, () => base64Encode(randomBytes(32)));

describe("forged fork evidence against an honest log", () => {
  it("two honest checkpoints with 0 to 3 junk hashes, or their honest proof, are refused by verify-evidence: exit 1", {
    timeout: 120_000,
  }, async () => {
    const log = new MemoryLog("honest.forgery/log", 72);
    const forged = [];
    for (const [m, n] of [
      [5, 9],
      [8, 12],
      [7, 200],
    ] as const) {
      for (let k = 0; k <= 3; k++) {
        forged.push({
          origin: log.origin,
          kind: "inconsistent",
          notes: [log.checkpoint(m), log.checkpoint(n)],
          proof: junk(k),
          detail: "forged",
          detected: new Date().toISOString(),
        });
      }
      forged.push({
        origin: log.origin,
        kind: "inconsistent",
        notes: [log.checkpoint(m), log.checkpoint(n)],
        proof: (await log.proof(m, n)).map(base64Encode),
        detail: "an honest proof",
        detected: new Date().toISOString(),
      });
    }
    const all = await verifyEvidenceCli(forged, log.key.verifierKey);
    expect(all.code, all.stderr).toBe(1);
    expect(all.out.results?.map((r) => r.ok)).toEqual(forged.map(() => false));
    // One at a time too: the exit code is not carried by a single refused item.
    const one = await verifyEvidenceCli(forged[2], log.key.verifierKey);
    expect(one.code, one.stderr).toBe(1);
  });

  it("a gossiping witness shown an honest peer checkpoint through rewritten tiles records nothing, counts bad tiles, and agrees once the tiles are true", async () => {
    const log = new MemoryLog("gossip.forgery/log", 73);
    const origin = await dirLog(log);
    origin.publish(12);
    let lying = true;
    const proxy = await lyingProxy(origin.url, (path, answer) =>
      lying && path.startsWith("/tile/") && answer.status === 200
        ? { status: 200, body: flipByte(answer.body, answer.body.length - 1) }
        : undefined,
    );
    closers.push(() => proxy.close());
    const w = witness(log, proxy.url);
    expect((await w.add(0, [], log.checkpoint(7))).status).toBe(200);
    const peer = await peerServing(log.origin, () => log.checkpoint(12));
    await gossipWith(w.deps, peer, w.wlog, (m) => w.lines.push(m));
    expect(proxy.paths.some((p) => p.startsWith("/tile/"))).toBe(true);
    expect(await w.evidence()).toEqual([]);
    expect(w.deps.metrics.badTiles.get({ origin: log.origin })).toBe(1);
    expect(w.lines.join("\n")).toMatch(/not evidence/);
    lying = false;
    await gossipWith(w.deps, peer, w.wlog);
    expect(await w.evidence()).toEqual([]);
    expect(w.deps.metrics.badTiles.get({ origin: log.origin })).toBe(1);
    // The witness still cosigns the log's next checkpoint.
    expect((await w.add(7, await log.proof(7, 12), log.checkpoint(12))).status).toBe(200);
  });
});

describe("signatures smuggled into add-checkpoint", () => {
  it("extra signature lines are dropped: the witness serves only the log signature it verified and its own cosignature", async () => {
    const log = new MemoryLog("smuggle.forgery/log", 75);
    const w = witness(log);
    const wVerifier = parseVerifierKey(cosignatureVerifierKey(W.signerKey));
    const stranger = new MemoryLog(log.origin, 76);
    const honest = log.checkpoint(5);
    const text = splitNote(honest).text;
    const logLine = splitNote(honest).sigLines[0]!;
    const smuggled = [
      // A valid signature by a key the witness does not know.
      splitNote(stranger.checkpoint(5)).sigLines[0]!,
      // A "cosignature" under this witness's own name and key ID that does not verify: republished,
      // it would make every verifier that trusts the witness reject the note.
      signatureLine(wVerifier.name, wVerifier.keyId, randomBytes(72)).slice(0, -1),
      // Another witness's cosignature nobody checked.
      signatureLine("witness.example/other", randomBytes(4), randomBytes(72)).slice(0, -1),
      // The log's key again, with junk after the signature that verified.
      signatureLine(
        parseSignerKey(log.key.signerKey).name,
        parseSignerKey(log.key.signerKey).keyId,
        randomBytes(64),
      ).slice(0, -1),
    ];
    const body = `${text}\n${[logLine, ...smuggled].map((l) => `${l}\n`).join("")}`;
    const res = await w.add(0, [], body);
    expect(res.status).toBe(200);
    const cosig = await res.text();
    const served = await w.served();
    expect(served).toBe(`${honest}${cosig}`);
    for (const l of smuggled) expect(served).not.toContain(l);
    const o = openCheckpoint(served, [parseVerifierKey(log.key.verifierKey)], [wVerifier], 1);
    expect(o.checkpoint.size).toBe(5);
    // The next cosigned checkpoint is kept the same way.
    const next = `${log.checkpoint(9)}${smuggled.map((l) => `${l}\n`).join("")}`;
    const res2 = await w.add(5, await log.proof(5, 9), next);
    expect(res2.status).toBe(200);
    expect(await w.served()).toBe(`${log.checkpoint(9)}${await res2.text()}`);
  });
});

describe("a real fork", () => {
  for (const m of [7, 8]) {
    it(`is still proven (cosigned size ${m}${m === 8 ? ", a power of two" : ""}): the witness following the forked log records one piece of inconsistent evidence, verify-evidence exits 0, and later checkpoints add none`, {
      timeout: 120_000,
    }, async () => {
      const log = new MemoryLog(`fork${m}.forgery/log`, 77);
      const origin = await dirLog(log);
      const w = witness(log, origin.url);
      origin.publish(m);
      await w.follow();
      expect(
        openCheckpoint(await w.served(), [parseVerifierKey(log.key.verifierKey)]).checkpoint.size,
      ).toBe(m);
      // The log rewrites history from leaf 5 on and signs the forked tree.
      origin.publish(12, makeLeaves(12, 5));
      await w.follow();
      let evidence = await w.evidence();
      expect(evidence.map((e) => e.kind)).toEqual(["inconsistent"]);
      origin.publish(16, makeLeaves(16, 5));
      await w.follow();
      origin.publish(20, makeLeaves(20, 5));
      await w.follow();
      evidence = await w.evidence();
      expect(evidence).toHaveLength(1);
      expect(
        openCheckpoint(await w.served(), [parseVerifierKey(log.key.verifierKey)]).checkpoint.size,
      ).toBe(m);
      const v = await verifyEvidenceCli(evidence, log.key.verifierKey);
      expect(v.code, v.stderr).toBe(0);
      expect(v.out.results).toHaveLength(1);
    });
  }

  it("found by gossip (same size, another root): the honest log's later checkpoints add no false evidence, and /v1/evidence passes verify-evidence", {
    timeout: 120_000,
  }, async () => {
    const log = new MemoryLog("gossip-fork.forgery/log", 78);
    const evil = new MemoryLog(log.origin, 78, "evil");
    const origin = await dirLog(log);
    const w = witness(log, origin.url);
    origin.publish(8);
    await w.follow();
    const peer = await peerServing(log.origin, () => evil.checkpoint(8));
    await gossipWith(w.deps, peer, w.wlog);
    expect((await w.evidence()).map((e) => e.kind)).toEqual(["same-size-different-root"]);
    for (const n of [12, 16, 21]) {
      origin.publish(n);
      await w.follow();
      await gossipWith(w.deps, peer, w.wlog);
    }
    const evidence = await w.evidence();
    expect(evidence).toHaveLength(1);
    const v = await verifyEvidenceCli(evidence, log.key.verifierKey);
    expect(v.code, v.stderr).toBe(0);
    // Nothing further is cosigned for that log.
    expect((await w.add(8, await log.proof(8, 12), log.checkpoint(12))).status).toBe(422);
  });

  it("add-checkpoint records evidence only under rule 1: junk proofs are a 422 that records nothing; a forking log's own proof is recorded, and verify-evidence accepts it", async () => {
    const log = new MemoryLog("posted-fork.forgery/log", 79);
    const evil = new MemoryLog(log.origin, 79, "evil");
    const w = witness(log);
    expect((await w.add(0, [], log.checkpoint(7))).status).toBe(200);
    for (const k of [0, 1, 3, 5]) {
      const proof = Array.from({ length: k }, () => new Uint8Array(randomBytes(32)));
      expect((await w.add(7, proof, log.checkpoint(12))).status).toBe(422);
      expect((await w.add(7, proof, evil.checkpoint(12))).status).toBe(422);
    }
    expect(await w.evidence()).toEqual([]);
    expect((await w.add(7, await evil.proof(7, 12), evil.checkpoint(12))).status).toBe(422);
    const evidence = await w.evidence();
    expect(evidence.map((e) => e.kind)).toEqual(["inconsistent"]);
    const v = await verifyEvidenceCli(evidence, log.key.verifierKey);
    expect(v.code, v.stderr).toBe(0);
    // The RFC proof from a power-of-two size starts with the witness's own root: it cannot show a
    // fork, so nothing is recorded from it.
    const log8 = new MemoryLog("posted-fork8.forgery/log", 80);
    const evil8 = new MemoryLog(log8.origin, 80, "evil");
    const w8 = witness(log8);
    expect((await w8.add(0, [], log8.checkpoint(8))).status).toBe(200);
    expect((await w8.add(8, await evil8.proof(8, 12), evil8.checkpoint(12))).status).toBe(422);
    expect(await w8.evidence()).toEqual([]);
  });
});
