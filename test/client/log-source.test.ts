// The one reader of a log over HTTP (src/client/log-source.ts), against a small local server: the
// partial-to-full fallback of C2SP tlog-tiles, the caps enforced while streaming, and the two
// kinds of failure a verifier must keep apart: could not get an answer (LogSourceError, exit 2)
// and got an answer that does not verify (TrailError, exit 1).

import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { auditServedLog } from "../../src/audit/http-audit.ts";
import { TreeRebuilder } from "../../src/audit/tree-tiles.ts";
import { classify } from "../../src/cli/exit.ts";
import { READ_CAPS } from "../../src/client/http-read.ts";
import { LogSourceError, openLogFiles, openLogSource } from "../../src/client/log-source.ts";
import {
  TileTree,
  verifyInclusionFromTiles,
  verifyRootFromTiles,
} from "../../src/client/verified-reader.ts";
import { encodeBundle } from "../../src/core/bundle.ts";
import { type Checkpoint, formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { entriesPath, hashTilePath, TILE_WIDTH } from "../../src/core/tiles.ts";
import { tempDir } from "../support/serve.ts";

const ORIGIN = "reader.example/log";
const KEY = generateKey(ORIGIN, new Uint8Array(32).fill(7));
const VERIFIER = parseVerifierKey(KEY.verifierKey);
const LEAVES = Array.from({ length: 512 }, (_, i) => new TextEncoder().encode(`leaf ${i}`));

/** Every tlog-tiles file of the first `size` leaves, by path, and its checkpoint. */
function files(size: number): { files: Map<string, Uint8Array>; cp: Checkpoint } {
  const out = new Map<string, Uint8Array>();
  const tree = new TreeRebuilder(rfc6962);
  for (const leaf of LEAVES.slice(0, size)) {
    tree.append(rfc6962.leaf(leaf));
    for (const t of tree.takeFullTiles()) out.set(hashTilePath({ ...t, width: 256 }), t.hashes);
  }
  for (const t of tree.partialTiles())
    out.set(hashTilePath({ ...t, width: t.hashes.length / 32 }), t.hashes);
  for (let b = 0; b * TILE_WIDTH < size; b++) {
    const width = Math.min(TILE_WIDTH, size - b * TILE_WIDTH);
    out.set(
      entriesPath(b, width),
      encodeBundle(LEAVES.slice(b * TILE_WIDTH, b * TILE_WIDTH + width)),
    );
  }
  const cp = { origin: ORIGIN, size, root: tree.root() };
  const note = signNote(formatCheckpoint(cp), [parseSignerKey(KEY.signerKey)]);
  out.set("checkpoint", new TextEncoder().encode(note));
  return { files: out, cp };
}

/**
 * The log at size 300 as a mirror serves it once the tree has grown to 512 and the superseded
 * partials were deleted: tile/0/001.p/44 and tile/entries/001.p/44 are gone, their full files
 * (whose first 44 entries are the same) are there.
 */
function grownPast(): { files: Map<string, Uint8Array>; cp: Checkpoint } {
  const at300 = files(300);
  const at512 = files(512).files;
  at512.set("checkpoint", at300.files.get("checkpoint")!);
  at512.set("tile/1/000.p/1", at300.files.get("tile/1/000.p/1")!);
  return { files: at512, cp: at300.cp };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Server {
  url: string;
  /** Every path asked for, in order. */
  paths: string[];
  /** Body bytes handed to the socket by `endless`. */
  served: () => number;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Serves `files` (404 otherwise); `special` answers a path its own way. */
async function serveFiles(
  files: Map<string, Uint8Array>,
  special: Record<string, Handler> = {},
): Promise<Server> {
  const paths: string[] = [];
  let served = 0;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!.slice(1);
    paths.push(path);
    const h = special[path];
    if (h === endless) {
      // 64 KiB chunks as fast as the socket drains, no Content-Length, up to 1 GiB.
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (!res.destroyed && served < 1024 ** 3) {
          served += chunk.length;
          if (!res.write(chunk)) return;
        }
        if (!res.destroyed) res.end();
      };
      res.on("drain", pump);
      return pump();
    }
    if (h) return h(req, res);
    const body = files.get(path);
    if (!body) return res.writeHead(404).end("not found\n");
    res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    served: () => served,
  };
}

const endless: Handler = () => {};

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
}

describe("partial-to-full fallback (C2SP tlog-tiles)", () => {
  it("a partial hash tile that is gone is read from the full tile, truncated to its width", async () => {
    const { files: f, cp } = grownPast();
    const s = await serveFiles(f);
    const source = openLogSource(s.url);
    const tile = await source.hashTile(0, 1, 44);
    expect(tile).toEqual(files(300).files.get("tile/0/001.p/44"));
    expect(s.paths).toEqual(["tile/0/001.p/44", "tile/0/001"]);
    await verifyRootFromTiles(new TileTree(source), cp);
  });

  it("a partial that is served is read once, without asking for the full tile", async () => {
    const { files: f, cp } = files(300);
    const s = await serveFiles(f);
    const source = openLogSource(s.url);
    await verifyRootFromTiles(new TileTree(source), cp);
    expect(s.paths).toContain("tile/0/001.p/44");
    expect(s.paths).not.toContain("tile/0/001");
  });

  it("a partial entry bundle that is gone is read from the full bundle: its first leaves", async () => {
    const { files: f, cp } = grownPast();
    const s = await serveFiles(f);
    const leaves = await openLogSource(s.url).entryBundle(1, 44);
    expect(leaves).toEqual(LEAVES.slice(256, 300));
    const served = await openLogFiles(s.url).entryBundle(1, 44);
    expect(served.width).toBe(TILE_WIDTH);
    const tree = new TileTree(openLogSource(s.url));
    await verifyInclusionFromTiles(tree, 299, rfc6962.leaf(leaves[43]!), cp);
  });

  it("audit --log reads the full bundle and tile when the partials are gone, and finds nothing", async () => {
    const { files: f } = grownPast();
    const s = await serveFiles(f);
    const report = await auditServedLog(s.url, { verifiers: [VERIFIER] });
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, size: 300, leaves: 300 });
    expect(s.paths).toEqual(expect.arrayContaining(["tile/entries/001.p/44", "tile/entries/001"]));
  });

  it("a directory laid out as tlog-tiles falls back the same way", async () => {
    const dir = tempDir("tt-reader-dir-");
    for (const [path, data] of grownPast().files) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    }
    const source = openLogSource(dir);
    await verifyRootFromTiles(new TileTree(source), files(300).cp);
    expect(await source.entryBundle(1, 44)).toEqual(LEAVES.slice(256, 300));
  });

  it("neither the partial nor the full tile served is not-found, not a verification failure", async () => {
    const { files: f } = files(300);
    f.delete("tile/0/001.p/44");
    const s = await serveFiles(f);
    const e = await failure(openLogSource(s.url).hashTile(0, 1, 44));
    expect(e).toBeInstanceOf(LogSourceError);
    expect((e as LogSourceError).kind).toBe("not-found");
    expect(s.paths).toEqual(["tile/0/001.p/44", "tile/0/001"]);
  });
});

describe("caps: a hostile server cannot make the reader buffer more than the cap of its kind", () => {
  it("an endless checkpoint is refused at the note cap while streaming", async () => {
    const s = await serveFiles(new Map(), { checkpoint: endless });
    const e = await failure(openLogSource(s.url).checkpoint());
    expect(e).toBeInstanceOf(LogSourceError);
    expect((e as LogSourceError).kind).toBe("too-large");
    expect(e.message).toMatch(/checkpoint: the answer runs past the cap of 1000000 bytes/);
    expect(s.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("an endless hash tile is refused at 8 KiB while streaming, and its partial's full tile too", async () => {
    const s = await serveFiles(new Map(), { "tile/0/000": endless });
    const e = await failure(openLogSource(s.url).hashTile(0, 0, 10));
    expect((e as LogSourceError).kind).toBe("too-large");
    expect(e.message).toMatch(/tile\/0\/000: .*cap of 8192 bytes/);
    expect(s.paths).toEqual(["tile/0/000.p/10", "tile/0/000"]);
    expect(s.served()).toBeLessThan(32 * 1024 ** 2);
  });

  it("a tile declaring a huge Content-Length is refused before its body is read", async () => {
    const s = await serveFiles(new Map(), {
      "tile/0/000": (_q, res) => {
        res.writeHead(200, { "Content-Length": String(1024 ** 3) });
        res.write(Buffer.alloc(1024));
      },
    });
    const e = await failure(openLogFiles(s.url).hashTile(0, 0, 256));
    expect((e as LogSourceError).kind).toBe("too-large");
    expect(e.message).toMatch(/declares 1073741824 bytes, more than the cap of 8192/);
  });

  it("the caps are those of the formats: a note, 256 hashes, 256 leaves", () => {
    expect(READ_CAPS.checkpoint).toBe(1_000_000);
    expect(READ_CAPS.hashTile).toBe(TILE_WIDTH * 32);
    expect(READ_CAPS.entryBundle).toBe(TILE_WIDTH * (2 + 65535));
  });
});

describe("unreachable (exit 2) is never a verification failure (exit 1), and back", () => {
  it("a refused connection is LogSourceError unreachable, exit 2", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r)); // nothing listens on the port any more
    const e = await failure(openLogSource(`http://127.0.0.1:${port}`).checkpoint());
    expect((e as LogSourceError).kind).toBe("unreachable");
    expect(classify(e)).toMatchObject({ exit: 2, error: { code: "unreachable" } });
  });

  it("a server that never answers is unreachable at the deadline, exit 2", async () => {
    const s = await serveFiles(new Map(), { "tile/0/000": () => {} });
    const t0 = performance.now();
    const e = await failure(openLogSource(s.url, { timeoutMs: 300 }).hashTile(0, 0, 256));
    expect((e as LogSourceError).kind).toBe("unreachable");
    expect(e.message).toMatch(/timed out after 300 ms/);
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(classify(e)).toMatchObject({ exit: 2, error: { code: "unreachable" } });
  });

  it("a 5xx is LogSourceError http and a missing checkpoint not-found: both exit 2", async () => {
    const s = await serveFiles(new Map(), {
      "tile/0/000": (_q, res) => res.writeHead(503).end("busy\n"),
    });
    const busy = await failure(openLogSource(s.url).hashTile(0, 0, 256));
    expect(busy).toMatchObject({ kind: "http", status: 503 });
    const gone = await failure(openLogSource(s.url).checkpoint());
    expect(gone).toMatchObject({ kind: "not-found", status: 404 });
    expect(classify(busy).exit).toBe(2);
    expect(classify(gone).exit).toBe(2);
  });

  it("a tile that does not hash to the signed root is TrailError proof-mismatch, exit 1", async () => {
    const { files: f, cp } = files(300);
    const bad = f.get("tile/0/001.p/44")!.slice();
    bad[0]! ^= 1;
    f.set("tile/0/001.p/44", bad);
    const s = await serveFiles(f);
    const e = await failure(verifyRootFromTiles(new TileTree(openLogSource(s.url)), cp));
    expect(e).not.toBeInstanceOf(LogSourceError);
    expect(isTrailError(e, "proof-mismatch")).toBe(true);
    expect(e.message).toMatch(/tile\/0\/001\.p\/44/);
    expect(classify(e)).toMatchObject({ exit: 1, error: { code: "proof-mismatch" } });
  });

  it("a tile of the wrong length or a note not UTF-8 is TrailError malformed, never a TypeError", async () => {
    const { files: f } = files(300);
    f.set("tile/0/000", new Uint8Array(100));
    f.set("checkpoint", new Uint8Array([0xff, 0xfe, 0x0a]));
    const s = await serveFiles(f);
    const short = await failure(openLogSource(s.url).hashTile(0, 0, 256));
    expect(isTrailError(short, "malformed")).toBe(true);
    expect(short.message).toMatch(/tile\/0\/000 is 100 bytes, want 8192/);
    const note = await failure(openLogSource(s.url).checkpoint());
    expect(isTrailError(note, "malformed")).toBe(true);
  });

  it("the checkpoint read is the one signed: opened with the log key it gives the tree's root", async () => {
    const { files: f, cp } = files(300);
    const s = await serveFiles(f);
    const opened = openCheckpoint(await openLogSource(s.url).checkpoint(), [VERIFIER]);
    expect(opened.checkpoint).toEqual(cp);
  });
});
