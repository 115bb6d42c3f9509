// Small helpers shared by the route modules: authentication with scope, bounded bodies, strict
// query integers.

import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { utf8Decode } from "../log/encoding.ts";
import { type Principal, requireScope, type Scope } from "./auth.ts";
import type { LogContext } from "./context.ts";
import { ApiError, badRequest, errorBody } from "./errors.ts";

export type Env = { Variables: { principal: Principal } };

/** Authenticates the bearer token, checks the scope and the per-key rate limit. */
export function guard(ctx: LogContext, scope: Scope): MiddlewareHandler<Env> {
  return async (c, next) => {
    let p: Principal | undefined;
    try {
      p = await ctx.auth.authenticate(c.req.header("Authorization"));
      requireScope(p, scope);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        ctx.denials.record({
          status: e.status,
          key: p?.id ?? "-",
          addr: clientAddr(c),
          path: c.req.path,
        });
      }
      throw e;
    }
    ctx.rateLimiter?.take(p.id);
    c.set("principal", p);
    await next();
  };
}

export function clientAddr(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)
    ?.incoming;
  return incoming?.socket?.remoteAddress ?? "unknown";
}

/** Refuses bodies over `maxBytes` with 413 before reading them whole. */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(errorBody("too-large", `request body larger than ${maxBytes} bytes`), 413),
  });
}

/** The body as strict UTF-8 JSON; 400 with a clear message otherwise. */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header("Content-Type") ?? "";
  if (!/^application\/json(\s*;\s*charset=utf-8)?$/i.test(type.trim())) {
    throw new ApiError(415, "unsupported-media-type", "send Content-Type: application/json");
  }
  const text = utf8Decode(new Uint8Array(await c.req.arrayBuffer()), "request body");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`malformed JSON: ${(e as Error).message}`, "malformed");
  }
}

/** A canonical non-negative decimal query parameter (≤ 2^53-1), or undefined when absent. */
export function queryInt(c: Context, name: string): number | undefined {
  const v = c.req.query(name);
  if (v === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw badRequest(`${name} must be a non-negative integer`);
  }
  return Number(v);
}

export function requiredInt(c: Context, name: string): number {
  const v = queryInt(c, name);
  if (v === undefined) throw badRequest(`${name} is required`);
  return v;
}
