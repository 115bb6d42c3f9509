// One way in from the network: every read of a log or a peer over HTTP (the CLI's readers, the
// witness's polls and gossip, the agent's receipts prover, the log's calls to its witnesses) goes
// through `httpRead`, which guarantees three things:
//
//   1. One deadline for the whole exchange: connecting, the headers and the last byte of the body.
//      A server that trickles one byte a second cannot outlive `timeoutMs` (undici aborts the body
//      stream with the same signal as the request).
//   2. A byte cap per kind of answer (READ_CAPS), checked against Content-Length before reading
//      and again while streaming: at most `maxBytes` bytes are ever buffered, so a 1 GiB
//      "checkpoint" costs 1 MB, not 1 GiB.
//   3. Failures that say what failed, named by URL and by the cap or the timeout, as a
//      LogSourceError of one kind: `unreachable` (connection refused, reset, timeout), `too-large`
//      (the cap), `not-found` (404), `unauthorized` (401/403), `http` (any other status). None of
//      them is a proof failure: an answer we cannot get proves nothing either way (exit 2).
//
// Caps: a checkpoint is a signed note (MAX_NOTE_SIZE); a hash tile is at most 256 hashes of 32
// bytes; an entry bundle at most 256 leaves of MAX_LEAF_SIZE bytes with their 2-byte length
// prefixes; JSON answers (a page of /v1/entries, a session list) and session bundles are larger
// but finite, and a command that may legitimately need more takes a flag to raise its cap.

import { MAX_LEAF_SIZE } from "../core/bundle.ts";
import { MAX_NOTE_SIZE } from "../core/note.ts";
import { TILE_WIDTH } from "../core/tiles.ts";

const MiB = 1024 * 1024;

export const READ_CAPS = {
  /** A signed checkpoint note with its cosignatures. */
  checkpoint: MAX_NOTE_SIZE,
  /** A hash tile: 256 hashes of 32 bytes (8 KiB). */
  hashTile: TILE_WIDTH * 32,
  /** An entry bundle: 256 leaves, each a uint16 length and at most 65535 bytes (~16 MiB). */
  entryBundle: TILE_WIDTH * (2 + MAX_LEAF_SIZE),
  /**
   * A JSON answer of the read API. The largest is a page of /v1/entries: tail asks 500 entries of
   * at most a 64 KiB leaf and 64 KiB of content, each base64 (~4/3), about 90 MB at worst.
   */
  json: 128 * MiB,
  /** A session bundle (export, replay): raised with --max-bytes. */
  bundle: 512 * MiB,
  /** An answer we only read for its status or a short message (webhooks, witnesses' errors). */
  small: 64 * 1024,
} as const;

/** The default deadline of one exchange, body included. */
export const READ_TIMEOUT_MS = 10_000;

/**
 * A command's failure to talk to a service (a log, a witness, a peer): exit 2 in the CLI. It is
 * never a verification failure.
 */
export class ServiceError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export type LogSourceErrorKind =
  | "unreachable"
  | "not-found"
  | "unauthorized"
  | "http"
  | "too-large";

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

export interface ReadOptions {
  /** The most bytes the body may hold (see READ_CAPS); more is refused while streaming. */
  maxBytes: number;
  /** One deadline for connecting, the headers and the whole body (default 10 s). */
  timeoutMs?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export interface ReadAnswer {
  status: number;
  ok: boolean;
  headers: Headers;
  /** The whole body, at most `maxBytes` bytes. */
  body: Uint8Array;
}

/** One capped, timed exchange; any status is returned with its (capped) body. */
export async function httpRead(url: string | URL, o: ReadOptions): Promise<ReadAnswer> {
  const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: o.method ?? "GET",
      headers: o.headers,
      body: o.body as BodyInit | undefined,
      signal,
    });
  } catch (e) {
    throw new LogSourceError("unreachable", `cannot reach ${url}: ${why(e, timeoutMs)}`);
  }
  const body = await readBody(res, String(url), o.maxBytes, timeoutMs);
  return { status: res.status, ok: res.ok, headers: res.headers, body };
}

/**
 * A GET that must answer 2xx: its body, or a LogSourceError naming the URL (`not-found` for 404,
 * `unauthorized` for 401/403, `http` otherwise). A failed answer's body is not read.
 */
export async function httpGet(
  url: string,
  o: Omit<ReadOptions, "method" | "body"> & { authHint?: string },
): Promise<Uint8Array> {
  const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS;
  let res: Response;
  try {
    res = await fetch(url, { headers: o.headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new LogSourceError("unreachable", `cannot reach ${url}: ${why(e, timeoutMs)}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) throw new LogSourceError("not-found", `${url}: 404 not found`, 404);
    if (res.status === 401 || res.status === 403) {
      const hint = o.authHint ? `; ${o.authHint}` : "";
      throw new LogSourceError("unauthorized", `${url}: HTTP ${res.status}${hint}`, res.status);
    }
    throw new LogSourceError("http", `${url}: HTTP ${res.status}`, res.status);
  }
  return readBody(res, url, o.maxBytes, timeoutMs);
}

/** The body, refused past `max` bytes before they are buffered. */
async function readBody(
  res: Response,
  url: string,
  max: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const tooLarge = (declared?: number) =>
    new LogSourceError(
      "too-large",
      `${url}: the answer ${declared ? `declares ${declared} bytes, more than` : "runs past"} the cap of ${max} bytes; nothing more was read`,
    );
  const declared = Number(res.headers.get("Content-Length") ?? "0");
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(declared);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body?.getReader();
  try {
    for (let r = await reader?.read(); reader && r && !r.done; r = await reader.read()) {
      n += r.value.length;
      if (n > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(r.value);
    }
  } catch (e) {
    if (e instanceof LogSourceError) throw e;
    throw new LogSourceError(
      "unreachable",
      `${url}: reading the answer (${n} bytes so far): ${why(e, timeoutMs)}`,
    );
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function why(e: unknown, timeoutMs: number): string {
  const err = e as Error & { cause?: Error };
  if (err?.name === "TimeoutError" || err?.name === "AbortError")
    return `timed out after ${timeoutMs} ms`;
  return err?.cause?.message ?? err?.message ?? String(e);
}
