// The one place where failures become HTTP answers: `{"error": {"code", "message"}}` with the
// right 4xx, never a 500 for bad input. Handlers throw ApiError (or a TrailError from a parser);
// app.onError maps everything here.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isTrailError, type TrailErrorCode } from "../core/errors.ts";
import { isConnectionLost } from "../db/sql.ts";
import { PublisherStoppedError } from "../server/publisher.ts";
import { ConflictError, SequencerClosedError } from "../server/sequencer.ts";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (message: string, code = "bad-request") =>
  new ApiError(400, code, message);
export const notFound = (message: string) => new ApiError(404, "not-found", message);
/** Something the primary has that the read replica has not replayed yet: retry, not 400 or 404. */
export const replicaBehind = (what: string) =>
  new ApiError(
    503,
    "replica-behind",
    `the read replica has not caught up with ${what} yet; retry`,
    {
      "Retry-After": "1",
    },
  );

const trailStatus: Record<TrailErrorCode, ContentfulStatusCode> = {
  malformed: 400,
  "bad-key": 400,
  unverified: 400,
  "bad-signature": 400,
  "ambiguous-key": 400,
  "bad-index": 400,
  "bad-size": 400,
  "bad-proof-length": 400,
  "proof-mismatch": 400,
  "bad-hash": 400,
  quorum: 400,
  "bad-event": 400,
  "commitment-mismatch": 422,
  "not-found": 404,
};

/**
 * Is the database unreachable or out of something it will get back (answer 503, the client
 * retries)? A lost connection, a server starting up or shutting down (57P03), or SQLSTATE class 53
 * other than a full disk: out of memory, too many connections, a configuration limit.
 */
function isUnavailable(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return isConnectionLost(e) || code === "57P03" || outOfResources(e) !== undefined;
}

/** The SQLSTATE of a class-53 error (insufficient resources), if `e` is one. */
function outOfResources(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("53") ? code : undefined;
}

/** A full disk: PostgreSQL's disk_full (53100), ENOSPC, or the message of either. */
function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  const message = (e as { message?: string })?.message ?? "";
  return code === "53100" || code === "ENOSPC" || /no space left on device/i.test(message);
}

const lastLogged = new Map<string, number>();
/** At most one log line per code per 10 s. */
function shouldLog(code: string): boolean {
  const now = Date.now();
  if (now - (lastLogged.get(code) ?? 0) < 10_000) return false;
  lastLogged.set(code, now);
  return true;
}

export function errorBody(code: string, message: string, detail: Record<string, unknown> = {}) {
  return { error: { code, message, ...detail } };
}

export function toResponse(e: unknown, c: Context, say: (msg: string) => void): Response {
  if (e instanceof ApiError) {
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    return c.json(errorBody(e.code, e.message, e.detail), e.status);
  }
  if (isTrailError(e)) return c.json(errorBody(e.code, e.message), trailStatus[e.code] ?? 400);
  if (e instanceof ConflictError) {
    return c.json(
      errorBody("conflict", e.message, { position: e.position, existingIndex: e.existingIndex }),
      409,
    );
  }
  if (isStorageFull(e)) {
    // Nothing was acknowledged; the log takes submissions again once space is freed.
    say(`storage full on ${c.req.method} ${c.req.path}: ${(e as Error).message}`);
    c.header("Retry-After", "10");
    return c.json(errorBody("storage-full", "the log's storage is full; retry later"), 503);
  }
  if (e instanceof SequencerClosedError || e instanceof PublisherStoppedError || isUnavailable(e)) {
    const code = outOfResources(e);
    // Out of memory, too many connections, a limit: the operator must hear of it (once in a while).
    if (code && shouldLog(code))
      say(
        `database out of resources (${code}) on ${c.req.method} ${c.req.path}: ${(e as Error).message}`,
      );
    c.header("Retry-After", "1");
    return c.json(errorBody("unavailable", "the log is temporarily unavailable; retry"), 503);
  }
  say(`internal error on ${c.req.method} ${c.req.path}: ${(e as Error)?.stack ?? e}`);
  return c.json(errorBody("internal", "internal error"), 500);
}
