// Where a verifier reads a log from: the C2SP tlog-tiles files of one tree, either over HTTP(S)
// (a running `tmuxtrail serve`, a mirror, any static web server) or in a local directory laid out
// at the same relative paths:
//
//   checkpoint              the signed note (with any witness cosignature lines)
//   tile/0/000              full hash tiles, 256 hashes of 32 bytes
//   tile/0/001.p/44         a partial tile: the first 44 hashes
//   tile/entries/000        entry bundles (uint16-be length-prefixed leaves)
//
// tlog-tiles lets a server drop a partial tile once the full one exists, so a missing partial
// falls back to the full tile, which is truncated to the width asked for (for a bundle: its
// first `width` leaves). Everything read here is untrusted: sizes are capped before reading, and
// the caller checks every hash against a signed checkpoint.
//
// Failures come in two kinds a command can tell apart: LogSourceError `unreachable` (connection
// refused, timeout, unreadable directory) and `not-found` (HTTP 404, no such file). Both are
// ServiceErrors, exit 2: an answer we cannot get proves nothing either way.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ServiceError } from "../cli/client.ts";
import { decodeBundle } from "../log/bundle.ts";
import { check, show, TrailError } from "../log/errors.ts";
import { MAX_NOTE_SIZE } from "../log/note.ts";
import { entriesPath, hashTilePath, TILE_WIDTH } from "../log/tiles.ts";

export type LogSourceErrorKind = "unreachable" | "not-found" | "unauthorized" | "http";

export class LogSourceError extends ServiceError {
  constructor(
    readonly kind: LogSourceErrorKind,
    message: string,
    status?: number,
  ) {
    super(message, status);
    this.name = "LogSourceError";
  }
}

export interface LogSource {
  /** The URL or directory, for messages. */
  readonly where: string;
  /** The signed checkpoint note, as served. */
  checkpoint(): Promise<string>;
  /** Hash tile (level, index) of `width` hashes: exactly width·32 bytes. */
  hashTile(level: number, index: number, width: number): Promise<Uint8Array>;
  /** The first `width` leaves of entry bundle `index`. */
  entryBundle(index: number, width: number): Promise<Uint8Array[]>;
}

export interface LogSourceOptions {
  /** Bearer token for entry bundles (read scope). */
  token?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

/** A hash tile is at most 256 hashes; a bundle at most 256 leaves of 65535 bytes. */
const MAX_TILE = TILE_WIDTH * 32;
const MAX_BUNDLE = TILE_WIDTH * (2 + 65535);

/** Reads raw bytes at a relative path; throws LogSourceError `not-found` when absent. */
type RawReader = (path: string, maxBytes: number, auth: boolean) => Promise<Uint8Array>;

export function openLogSource(spec: string, opts: LogSourceOptions = {}): LogSource {
  const raw = /^https?:\/\//i.test(spec) ? httpReader(spec, opts) : dirReader(spec);
  return makeSource(spec, raw);
}

function makeSource(where: string, raw: RawReader): LogSource {
  /** Tries the partial path, then the full one when the partial is gone. */
  async function withFallback(
    pathOf: (width: number) => string,
    width: number,
    max: number,
    auth: boolean,
  ): Promise<Uint8Array> {
    try {
      return await raw(pathOf(width), max, auth);
    } catch (e) {
      if (width === TILE_WIDTH || !(e instanceof LogSourceError) || e.kind !== "not-found") throw e;
      return raw(pathOf(TILE_WIDTH), max, auth);
    }
  }
  return {
    where,
    async checkpoint() {
      const bytes = await raw("checkpoint", MAX_NOTE_SIZE, false);
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        throw new TrailError("malformed", `${where}: the checkpoint is not valid UTF-8`);
      }
    },
    async hashTile(level, index, width) {
      const path = hashTilePath({ level, index, width });
      const data = await withFallback(
        (w) => hashTilePath({ level, index, width: w }),
        width,
        MAX_TILE,
        false,
      );
      check(
        data.length >= width * 32 && data.length % 32 === 0,
        "malformed",
        `${where}: ${path} is ${data.length} bytes, want ${width * 32}`,
      );
      return data.subarray(0, width * 32);
    },
    async entryBundle(index, width) {
      const path = entriesPath(index, width);
      const data = await withFallback((w) => entriesPath(index, w), width, MAX_BUNDLE, true);
      const leaves = decodeBundle(data);
      check(
        leaves.length >= width,
        "malformed",
        `${where}: ${path} holds ${leaves.length} entries, want ${show(width)}`,
      );
      return leaves.slice(0, width);
    },
  };
}

function httpReader(base: string, opts: LogSourceOptions): RawReader {
  const root = base.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return async (path, maxBytes, auth) => {
    const url = `${root}/${path}`;
    const headers: Record<string, string> = {};
    if (auth && opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const why =
        err.name === "TimeoutError"
          ? `timed out after ${timeoutMs} ms`
          : (err.cause?.message ?? err.message);
      throw new LogSourceError("unreachable", `cannot reach ${url}: ${why}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      throw new LogSourceError("not-found", `${url}: 404 not found`, 404);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new LogSourceError(
        "unauthorized",
        `${url}: HTTP ${res.status}; entry bundles need a token with read scope (--token-file)`,
        res.status,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new LogSourceError("http", `${url}: HTTP ${res.status}`, res.status);
    }
    return readCapped(res, maxBytes, url);
  };
}

/** Reads a body, refusing more than `max` bytes before buffering them. */
async function readCapped(res: Response, max: number, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get("Content-Length") ?? "0");
  if (declared > max) {
    await res.body?.cancel();
    throw new LogSourceError("http", `${url}: answer of ${declared} bytes exceeds ${max}`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    const reader = res.body?.getReader();
    for (let r = await reader?.read(); reader && r && !r.done; r = await reader.read()) {
      n += r.value.length;
      if (n > max) {
        await reader.cancel();
        throw new LogSourceError("http", `${url}: answer exceeds ${max} bytes`);
      }
      chunks.push(r.value);
    }
  } catch (e) {
    if (e instanceof LogSourceError) throw e;
    throw new LogSourceError("unreachable", `${url}: reading the answer: ${(e as Error).message}`);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function dirReader(dir: string): RawReader {
  return async (path, maxBytes) => {
    const file = join(dir, ...path.split("/"));
    let data: Uint8Array;
    try {
      data = await readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new LogSourceError("not-found", `${file}: no such file`);
      throw new LogSourceError("unreachable", `cannot read ${file}: ${(e as Error).message}`);
    }
    if (data.length > maxBytes)
      throw new LogSourceError("http", `${file}: ${data.length} bytes exceeds ${maxBytes}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  };
}
