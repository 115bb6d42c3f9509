// The one way to read a log's C2SP tlog-tiles files (docs/design.md §2.8, §8.1): from a running
// `tmuxtrail serve`, a mirror, any static web server, a witness serving a log's tiles under
// /<hex SHA-256(origin)>, or a local directory laid out at the same relative paths:
//
//   checkpoint              the signed note (with any witness cosignature lines)
//   tile/0/000              full hash tiles, 256 hashes of 32 bytes
//   tile/0/001.p/44         a partial tile: the first 44 hashes
//   tile/entries/000        entry bundles (uint16-be length-prefixed leaves)
//
// Every verifier reads through here: verify, monitor, mirror and tail (openLogSource), the HTTP
// audit (openLogFiles), witness polling and gossip (fetchCheckpoint, fetchText, httpTileFetcher),
// the agent's receipts prover. Two layers:
//
//   LogFiles   the bytes as served. Every HTTP read goes through http-read.ts (one deadline, body
//              included; a byte cap per kind, READ_CAPS), a file is capped the same way. tlog-tiles
//              lets a server drop a partial tile once the full one exists, so a partial tile or
//              bundle that is not found is fetched once more at full width: tile/0/001.p/44 gone,
//              tile/0/001 is read and the caller is told it got 256 hashes, not 44.
//   LogSource  the same files checked for shape: a checkpoint of strict UTF-8, a hash tile of
//              exactly width·32 bytes (a full tile truncated), a bundle's first `width` leaves.
//
// Failures a caller must keep apart:
//   LogSourceError (a ServiceError; exit 2): the answer could not be had. Kinds: `unreachable`
//     (connection refused, reset, timeout, an unreadable directory), `not-found` (HTTP 404, no
//     such file, after the fallback), `unauthorized` (401/403), `http` (another status, 5xx),
//     `too-large` (past the cap, refused while streaming). It proves nothing either way.
//   TrailError (from src/core): an answer was had and is wrong. Here only `malformed` (a note not
//     UTF-8, a tile of the wrong length, a bundle that does not decode); the callers' checks
//     against a signed checkpoint add `proof-mismatch` and the rest (exit 1, an alarm).

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { decodeBundle } from "../core/bundle.ts";
import { check, show, TrailError } from "../core/errors.ts";
import type { TileFetcher } from "../core/tile-reader.ts";
import { entriesPath, hashTilePath, TILE_WIDTH } from "../core/tiles.ts";
import { httpGet, LogSourceError, READ_CAPS, READ_TIMEOUT_MS } from "./http-read.ts";

export { LogSourceError, type LogSourceErrorKind } from "./http-read.ts";

export interface LogSourceOptions {
  /** Bearer token for entry bundles (read scope); never sent for the checkpoint or hash tiles. */
  token?: string;
  /** Per-request deadline, body included (default 10 s). */
  timeoutMs?: number;
}

/** A tile or bundle as served, and the width of the path that answered (`width` or 256). */
export interface Served {
  data: Uint8Array;
  width: number;
}

/** A log's files as served, unchecked but for the caps; partial-to-full fallback done. */
export interface LogFiles {
  /** The URL or directory, for messages. */
  readonly where: string;
  checkpoint(): Promise<Uint8Array>;
  hashTile(level: number, index: number, width: number): Promise<Served>;
  entryBundle(index: number, width: number): Promise<Served>;
}

/** A log's files checked for shape (see the top of the file). */
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

/** Reads raw bytes at a relative path; throws LogSourceError `not-found` when absent. */
type RawReader = (path: string, maxBytes: number, auth: boolean) => Promise<Uint8Array>;

const isUrl = (spec: string) => /^https?:\/\//i.test(spec);

/** The files of the log at `spec`: an http(s) URL or a directory. */
export function openLogFiles(spec: string, opts: LogSourceOptions = {}): LogFiles {
  const raw = isUrl(spec) ? httpReader(spec, opts) : dirReader(spec);
  /** The partial path, then the full one when the partial is gone. */
  async function withFallback(
    pathOf: (width: number) => string,
    width: number,
    max: number,
    auth: boolean,
  ): Promise<Served> {
    try {
      return { data: await raw(pathOf(width), max, auth), width };
    } catch (e) {
      if (width === TILE_WIDTH || !(e instanceof LogSourceError) || e.kind !== "not-found") throw e;
      return { data: await raw(pathOf(TILE_WIDTH), max, auth), width: TILE_WIDTH };
    }
  }
  return {
    where: spec,
    checkpoint: () => raw("checkpoint", READ_CAPS.checkpoint, false),
    hashTile: (level, index, width) =>
      withFallback(
        (w) => hashTilePath({ level, index, width: w }),
        width,
        READ_CAPS.hashTile,
        false,
      ),
    entryBundle: (index, width) =>
      withFallback((w) => entriesPath(index, w), width, READ_CAPS.entryBundle, true),
  };
}

/** The log at `spec` (an http(s) URL or a directory), each answer checked for shape. */
export function openLogSource(spec: string, opts: LogSourceOptions = {}): LogSource {
  const files = openLogFiles(spec, opts);
  const where = files.where;
  return {
    where,
    async checkpoint() {
      return decodeNote(await files.checkpoint(), `${where}: the checkpoint`);
    },
    async hashTile(level, index, width) {
      const path = hashTilePath({ level, index, width });
      const { data } = await files.hashTile(level, index, width);
      check(
        data.length >= width * 32 && data.length % 32 === 0,
        "malformed",
        `${where}: ${path} is ${data.length} bytes, want ${width * 32}`,
      );
      return data.subarray(0, width * 32);
    },
    async entryBundle(index, width) {
      const path = entriesPath(index, width);
      const leaves = decodeBundle((await files.entryBundle(index, width)).data);
      check(
        leaves.length >= width,
        "malformed",
        `${where}: ${path} holds ${leaves.length} entries, want ${show(width)}`,
      );
      return leaves.slice(0, width);
    },
  };
}

/** The checkpoint of the log at `logUrl` (a witness's poll). */
export function fetchCheckpoint(logUrl: string, timeoutMs = READ_TIMEOUT_MS): Promise<string> {
  return openLogSource(logUrl, { timeoutMs }).checkpoint();
}

/** A signed note at exactly `url` (a peer witness's checkpoint), capped as a checkpoint. */
export async function fetchText(url: string, timeoutMs = READ_TIMEOUT_MS): Promise<string> {
  const bytes = await httpGet(url, { maxBytes: READ_CAPS.checkpoint, timeoutMs });
  return decodeNote(bytes, `${url}: the note`);
}

/** The hash tiles of the log at `logUrl`, as a TileFetcher (witness polling, gossip). */
export function httpTileFetcher(logUrl: string, timeoutMs = READ_TIMEOUT_MS): TileFetcher {
  const source = openLogSource(logUrl, { timeoutMs });
  return (level, index, width) => source.hashTile(level, index, width);
}

function decodeNote(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TrailError("malformed", `${what} is not valid UTF-8`);
  }
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
