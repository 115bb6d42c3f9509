// C2SP tlog-tiles read API: GET /checkpoint, GET /tile/<L>/<N>[.p/<W>] (public: hashes reveal
// nothing) and GET /tile/entries/<N>[.p/<W>] (read scope: leaves name hosts, users and times).
// Full tiles never change: immutable for a year. Entry bundles are private to shared caches.

import { Hono } from "hono";
import { encodeBundle } from "../../core/bundle.ts";
import { parseTilePath } from "../../core/tiles.ts";
import type { SlotRef } from "../../db/batch-store.ts";
import { servedCheckpoint } from "../../db/checkpoints.ts";
import { readTile } from "../../server/tile-store.ts";
import type { LogContext } from "../context.ts";
import { notFound } from "../errors.ts";
import { type Env, guard } from "../http.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";

export function tileRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.get("/checkpoint", async (c) => {
    const cp = await servedCheckpoint(ctx.readSql);
    if (!cp) throw notFound("no checkpoint has been published yet");
    c.header("Cache-Control", "no-cache");
    return c.body(cp.note, 200, { "Content-Type": "text/plain; charset=utf-8" });
  });

  app.get("/tile/entries/*", guard(ctx, "read"), async (c) => {
    const t = parseTilePath(c.req.path.slice(1));
    if (t.kind !== "entries") throw notFound("not an entry bundle path");
    const first = t.index * 256;
    const rows = await ctx.readSql.query<SlotRef>(
      "SELECT l.batch, l.slot FROM leaves l WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx",
      [first, first + t.width],
    );
    if (rows.length !== t.width) throw notFound(`entry bundle ${c.req.path} is beyond the tree`);
    // Leaves parts only: an entry bundle inflates no content.
    const leaves = await ctx.batches.leaves(rows);
    c.header(
      "Cache-Control",
      t.width === 256 ? "private, max-age=31536000, immutable" : "private, no-cache",
    );
    c.header("Vary", "Authorization");
    return c.body(toArrayBuffer(encodeBundle(leaves)), 200, {
      "Content-Type": "application/octet-stream",
    });
  });

  app.get("/tile/*", async (c) => {
    const t = parseTilePath(c.req.path.slice(1));
    if (t.kind !== "hash") throw notFound("not a hash tile path");
    const data = await readTile(ctx.readSql, t.level, t.index, t.width);
    if (!data) throw notFound(`tile ${c.req.path} is beyond the tree`);
    c.header("Cache-Control", t.width === 256 ? IMMUTABLE : "public, max-age=3600");
    return c.body(toArrayBuffer(data), 200, { "Content-Type": "application/octet-stream" });
  });

  return app;
}

export function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}
