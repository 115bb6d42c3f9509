// The log (or a peer) as an attacker on the reader's memory and time: every HTTP read goes through
// src/client/http-read.ts, so an endless body is cut at the cap of its kind and a body trickled a
// byte at a time ends at the deadline. And a signed checkpoint claiming an absurd size is refused
// before any tile is read; tile walks are lazy. Each hostile server is a small node:http server.

import { existsSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { requestJson } from "../../src/cli/log-api.ts";
import { READ_CAPS } from "../../src/client/http-read.ts";
import { fetchCheckpoint, fetchText, httpTileFetcher } from "../../src/client/log-source.ts";
import { TileTree, verifyAllTiles } from "../../src/client/verified-reader.ts";
import { formatCheckpoint } from "../../src/core/checkpoint.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { treeRoot } from "../../src/core/proof.ts";
import { tileNodeReader } from "../../src/core/tile-reader.ts";
import { runCli } from "../support/cli.ts";
import { run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";

const ORIGIN = "hostile.example/log";
const KEY = generateKey(ORIGIN, new Uint8Array(32).fill(61));
const signed = (size: number, root: Uint8Array) =>
  signNote(formatCheckpoint({ origin: ORIGIN, size, root }), [parseSignerKey(KEY.signerKey)]);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Hostile {
  url: string;
  /** Bytes of endless bodies the server managed to hand to the socket. */
  served: () => number;
  paths: string[];
}

const servers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of servers.splice(0)) await close();
});

/** The attack of the issue: a 1 GiB body, written as fast as the reader takes it. */
const ATTACK = 1024 ** 3;

async function hostile(route: (path: string, h: Hostile) => Handler | undefined): Promise<Hostile> {
  let served = 0;
  const paths: string[] = [];
  const h: Hostile = { url: "", served: () => served, paths };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    paths.push(path);
    const handler = route(path, h);
    if (handler) return handler(req, res);
    res.writeHead(404).end("not found\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  // Endless: 64 KiB chunks, as fast as the socket drains, up to ATTACK bytes.
  endless = (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (!res.destroyed && served < ATTACK) {
        served += chunk.length;
        if (!res.write(chunk)) return;
      }
      if (!res.destroyed) res.end();
    };
    res.on("drain", pump);
    pump();
  };
  return h;
}

let endless: Handler = () => {};

/** One byte every 100 ms, forever. */
const trickle: Handler = (_req, res) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  const t = setInterval(() => res.write(" "), 100);
  res.on("close", () => clearInterval(t));
};

async function timed<T>(p: Promise<T>): Promise<{ ms: number; error?: Error; value?: T }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t0, value };
  } catch (e) {
    return { ms: performance.now() - t0, error: e as Error };
  }
}

describe("a hostile log or peer cannot exhaust a reader's memory or time (issue 16 item 11)", () => {
  it("a witness polling a log that serves an endless checkpoint reads at most the note cap", async () => {
    const h = await hostile((p) => (p === "/checkpoint" ? endless : undefined));
    const r = await timed(fetchCheckpoint(h.url));
    expect(r.error?.message).toMatch(/cap of 1000000 bytes/);
    expect(r.ms).toBeLessThan(5_000);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("a witness gossiping with a peer that serves an endless checkpoint reads at most the note cap", async () => {
    const h = await hostile((p) => (p.endsWith("/checkpoint") ? endless : undefined));
    const r = await timed(fetchText(`${h.url}/abc/checkpoint`));
    expect(r.error?.message).toMatch(/cap of 1000000 bytes/);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("a witness comparing heads through a log's endless hash tile reads at most 8 KiB of it", async () => {
    const h = await hostile((p) => (p.startsWith("/tile/") ? endless : undefined));
    const r = await timed(httpTileFetcher(h.url)(0, 0, 256));
    expect(r.error?.message).toMatch(/tile\/0\/000: .*cap of 8192 bytes/);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("audit --log against an endless checkpoint exits 2 naming the cap, without buffering it", async () => {
    const h = await hostile((p) => (p === "/checkpoint" ? endless : undefined));
    const t0 = performance.now();
    const r = await runCli(["audit", "--log", h.url, "--log-key", KEY.verifierKey]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/checkpoint: the answer runs past the cap of 1000000 bytes/);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("tail --timeout 1s against a log that trickles its entries exits 2 at the deadline", async () => {
    const h = await hostile((p) => {
      if (p === "/checkpoint")
        return (_q, res) => res.writeHead(200).end(signed(1, new Uint8Array(32)));
      if (p === "/v1/entries") return trickle;
    });
    const tokenFile = join(tempDir("tt-reads-"), "token");
    writeFileSync(tokenFile, "tt_reader\n");
    const t0 = performance.now();
    const r = await runCli([
      "tail",
      "--log",
      h.url,
      "--token-file",
      tokenFile,
      "--log-key",
      KEY.verifierKey,
      "--timeout",
      "1s",
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/v1\/entries.*timed out after 1000 ms/);
    expect(performance.now() - t0).toBeLessThan(6_000);
  }, 20_000);

  it("a JSON answer (sessions, export, replay, erase) is cut at its cap and its deadline", async () => {
    const h = await hostile((p) => (p === "/v1/sessions" ? endless : trickle));
    const big = await timed(requestJson(h.url, "/v1/sessions", { maxBytes: 1024 ** 2 }));
    expect(big.error?.message).toMatch(/v1\/sessions: the answer runs past the cap of 1048576/);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
    const slow = await timed(requestJson(h.url, "/v1/bundles/x", { timeoutMs: 500 }));
    expect(slow.error?.message).toMatch(/timed out after 500 ms/);
    expect(slow.ms).toBeLessThan(3_000);
    expect(READ_CAPS.json).toBeLessThan(ATTACK);
  }, 20_000);

  it("export of a session whose bundle runs past --max-bytes exits 2 naming the cap, writing nothing", async () => {
    const h = await hostile((p) => (p.endsWith("/export") ? endless : undefined));
    const dir = tempDir("tt-reads-export-");
    writeFileSync(join(dir, "token"), "tt_reader\n");
    const r = await runCli([
      ...["export", "abc", "--log", h.url, "--token-file", join(dir, "token")],
      ...["--out", join(dir, "bundle.json"), "--log-key", KEY.verifierKey, "--max-bytes", "1M"],
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/export\?format=v3: the answer runs past the cap of 1048576 bytes/);
    expect(existsSync(join(dir, "bundle.json"))).toBe(false);
    expect(h.served()).toBeLessThan(32 * 1024 ** 2);
  });
});

describe("a signed checkpoint claiming an absurd size (issue 16 item 12)", () => {
  const SIZE = 2 ** 53 - 1;
  /** Every hash tile all zeros, and a checkpoint whose root is the root of those tiles. */
  async function absurdLog(): Promise<Hostile> {
    const zeros = async (_l: number, _i: number, w: number) => new Uint8Array(w * 32);
    const root = await treeRoot(SIZE, tileNodeReader(SIZE, zeros, rfc6962), rfc6962);
    const note = signed(SIZE, root);
    return hostile((p) => {
      if (p === "/checkpoint") return (_q, res) => res.writeHead(200).end(note);
      const m = /^\/tile\/\d+\/[x\d/]+(?:\.p\/(\d+))?$/.exec(p);
      if (m) return (_q, res) => res.writeHead(200).end(Buffer.alloc(Number(m[1] ?? 256) * 32));
    });
  }
  // A child process with a small heap: before the bound, the list of every tile index ran it out.
  const small = { NODE_OPTIONS: "--max-old-space-size=192" };

  it("verify checkpoint --all-tiles refuses it (exit 1, bad-size) before reading a tile", async () => {
    const h = await absurdLog();
    const p = run(
      ["verify", "checkpoint", "--log", h.url, "--log-key", KEY.verifierKey, "--all-tiles"],
      small,
    );
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/bad-size.*9007199254740991 leaves, beyond the 1099511627776/);
    expect(h.paths.filter((x) => x.startsWith("/tile/"))).toEqual([]);
  }, 30_000);

  it("mirror refuses it (exit 1) and writes nothing", async () => {
    const h = await absurdLog();
    const dir = tempDir("tt-reads-mirror-");
    const p = run(["mirror", "--log", h.url, "--log-key", KEY.verifierKey, "--out", dir], small);
    expect(await p.exited).toBe(1);
    expect(p.stderr() + p.stdout()).toMatch(/9007199254740991 leaves, beyond the 1099511627776/);
    expect(h.paths.filter((x) => x.startsWith("/tile/"))).toEqual([]);
  }, 30_000);

  it("verifyAllTiles walks tiles lazily: at the bound (2^40 leaves) it fails at the first tile", async () => {
    const source = {
      where: "zeros",
      checkpoint: async () => "",
      hashTile: async (_l: number, _i: number, w: number) => new Uint8Array(w * 32),
      entryBundle: async () => [],
    };
    const tree = new TileTree(source, rfc6962);
    const cp = { origin: ORIGIN, size: 2 ** 40, root: new Uint8Array(32) };
    const r = await timed(verifyAllTiles(tree, cp));
    expect(r.error?.message).toMatch(/tile\/0\/000 does not hash to entry 0 of tile\/1\/000/);
    expect(r.ms).toBeLessThan(2_000);
  });
});
