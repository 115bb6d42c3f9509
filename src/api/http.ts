// Small helpers shared by the route modules: authentication with scope, bounded bodies, strict
// query integers.

import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { utf8Decode } from "../core/encoding.ts";
import { type Principal, requireScope, type Scope } from "./auth.ts";
import type { LogContext } from "./context.ts";
import { ApiError, badRequest, errorBody } from "./errors.ts";

export type Env = { Variables: { principal: Principal } };

/**
 * Authenticates the bearer token, checks the scope and the per-key rate limit. Looking a token up
 * in the database spends one of the client address's budget of failed authentications (serve
 * --auth-failure-limit), given back when the token is valid; an address that has spent it is
 * answered 429 before any token it sends is looked at, the admin token's included (else a weak
 * one could still be guessed at full speed: a 429 for every wrong guess, a 200 for the right one).
 */
/** Authenticates the bearer token and requires `scope` ("any": every valid key). */
export function guard(ctx: LogContext, scope: Scope | "any"): MiddlewareHandler<Env> {
  return async (c, next) => {
    const addr = clientAddr(c);
    const limiter = ctx.authFailures;
    const group = addressGroup(addr);
    limiter?.check(group);
    const gate = limiter && {
      before: () => limiter.take(group),
      found: () => limiter.refund(group),
    };
    let p: Principal | undefined;
    try {
      p = await ctx.auth.authenticate(c.req.header("Authorization"), gate);
      if (scope !== "any") requireScope(p, scope);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        ctx.denials.record({ status: e.status, key: p?.id ?? "-", addr, path: c.req.path });
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

/**
 * The unit a per-address limit counts by: an IPv4 address (also when written IPv4-mapped), or an
 * IPv6 address's /64, which one host or one customer usually holds whole (2001:db8:1:2:a::1 and
 * 2001:db8:1:2:b::9 are both 2001:db8:1:2::/64).
 */
export function addressGroup(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  if (!addr.includes(":")) return addr;
  const bare = addr.split("%")[0]!;
  const halves = bare.split("::");
  if (halves.length > 2) return addr;
  const groups = (s: string | undefined) =>
    s ? s.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])) : [];
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const all =
    halves.length === 2
      ? [...left, ...new Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
      : left;
  if (all.length !== 8 || !all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return addr;
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
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
