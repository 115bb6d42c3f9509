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
// first `width` leaves). Everything read here is untrusted: every HTTP read goes through
// http-read.ts (one deadline, body included; a byte cap per kind), a file is capped the same way,
// and the caller checks every hash against a signed checkpoint.
//
// Failures a command can tell apart: LogSourceError `unreachable` (connection refused, timeout,
// unreadable directory), `not-found` (HTTP 404, no such file), `too-large` (past the cap). All are
// ServiceErrors, exit 2: an answer we cannot get proves nothing either way.

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { decodeBundle } from "../log/bundle.ts";
import { check, show, TrailError } from "../log/errors.ts";
import { entriesPath, hashTilePath, TILE_WIDTH } from "../log/tiles.ts";
import { httpGet, LogSourceError, READ_CAPS } from "./http-read.ts";

export { LogSourceError, type LogSourceErrorKind } from "./http-read.ts";

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
  /** Per-request deadline, body included (default 10 s). */
  timeoutMs?: number;
}

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
      const bytes = await raw("checkpoint", READ_CAPS.checkpoint, false);
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
        READ_CAPS.hashTile,
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
      const data = await withFallback(
        (w) => entriesPath(index, w),
        width,
        READ_CAPS.entryBundle,
        true,
      );
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
  return (path, maxBytes, auth) =>
    httpGet(`${root}/${path}`, {
      maxBytes,
      timeoutMs: opts.timeoutMs,
      headers: auth && opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
      authHint: "entry bundles need a token with read scope (--token-file)",
    });
}

function dirReader(dir: string): RawReader {
  return async (path, maxBytes) => {
    const file = join(dir, ...path.split("/"));
    let data: Uint8Array;
    try {
      // The size is checked before the file is read: a mirror directory is no more trusted.
      const { size } = await stat(file);
      if (size > maxBytes)
        throw new LogSourceError(
          "too-large",
          `${file}: ${size} bytes, more than the cap of ${maxBytes}`,
        );
      data = await readFile(file);
    } catch (e) {
      if (e instanceof LogSourceError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new LogSourceError("not-found", `${file}: no such file`);
      throw new LogSourceError("unreachable", `cannot read ${file}: ${(e as Error).message}`);
    }
    if (data.length > maxBytes)
      throw new LogSourceError("too-large", `${file}: ${data.length} bytes, more than ${maxBytes}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  };
}
