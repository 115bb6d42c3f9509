// JSON proofs (read scope): GET /v1/proof/inclusion?index=I|hash=H&size=N and
// GET /v1/proof/consistency?from=M&to=N, for sizes up to the newest checkpoint. The auditors never
// need these (they rebuild proofs from the tiles); they are a convenience for simple clients.

import { Hono } from "hono";
import { base64Decode, base64Encode } from "../../core/encoding.ts";
import { latestCheckpoint } from "../../db/checkpoints.ts";
import { proveConsistency, proveInclusion } from "../../server/tree-reader.ts";
import type { LogContext } from "../context.ts";
import { badRequest, notFound, replicaBehind } from "../errors.ts";
import { type Env, guard, queryInt, requiredInt } from "../http.ts";

/** The newest published size seen per database: it only grows, so a size up to it needs no query. */
const published = new WeakMap<object, number>();

async function publishedSize(ctx: LogContext, atLeast: number): Promise<number> {
  const known = published.get(ctx.readSql) ?? 0;
  if (atLeast <= known) return known;
  const size = (await latestCheckpoint(ctx.readSql))?.size ?? 0;
  published.set(ctx.readSql, Math.max(known, size));
  if (size < atLeast && ctx.readSql !== ctx.sql) {
    const primary = (await latestCheckpoint(ctx.sql))?.size ?? 0;
    if (atLeast <= primary) throw replicaBehind(`checkpoint size ${atLeast}`);
  }
  return size;
}

function checkSize(size: number, published: number, name: string): void {
  if (size === 0)
    throw badRequest(`${name} must be at least 1: there is no proof in an empty tree`);
  if (size > published) {
    throw badRequest(`${name} ${size} is beyond the newest checkpoint (size ${published})`);
  }
}

export function proofRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.get("/v1/proof/inclusion", guard(ctx, "read"), async (c) => {
    const size = requiredInt(c, "size");
    let index = queryInt(c, "index");
    const hash = c.req.query("hash");
    if ((index === undefined) === (hash === undefined))
      throw badRequest("give exactly one of index or hash");
    checkSize(size, await publishedSize(ctx, size), "size");
    if (hash !== undefined) {
      const h = base64Decode(hash, "hash", 32);
      const rows = await ctx.readSql.query<{ idx: number }>(
        "SELECT idx FROM leaves WHERE leaf_hash = $1",
        [h],
      );
      if (!rows[0] || rows[0].idx >= size)
        throw notFound(`no leaf with that hash in the tree of size ${size}`);
      index = rows[0].idx;
    }
    if (index! >= size) throw badRequest(`index ${index} is not below size ${size}`);
    const proof = await proveInclusion(ctx.readSql, index!, size, ctx.hasher);
    return c.json({ index, size, proof: proof.map(base64Encode) });
  });

  app.get("/v1/proof/consistency", guard(ctx, "read"), async (c) => {
    const from = requiredInt(c, "from");
    const to = requiredInt(c, "to");
    const newest = await publishedSize(ctx, to);
    checkSize(from, newest, "from");
    checkSize(to, newest, "to");
    if (from > to) throw badRequest(`from ${from} is larger than to ${to}`);
    const proof = await proveConsistency(ctx.readSql, from, to, ctx.hasher);
    return c.json({ from, to, proof: proof.map(base64Encode) });
  });

  return app;
}
