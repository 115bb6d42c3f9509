// Operations: GET /healthz (database reachable, tree size, checkpoint age), GET /metrics
// (Prometheus text format) and GET /openapi.json.
//
// /healthz is public, so it never carries a database's error text (host names, addresses, user
// names, a driver's message): the detail goes to the log's own output, at most once per 10 s.
// /metrics names keys and client addresses: it needs a key with the read scope (admin holds every
// scope) unless `serve --public-metrics`.

import { Hono, type MiddlewareHandler } from "hono";
import { latestCheckpoint, latestCheckpointTime } from "../../db/checkpoints.ts";
import type { LogContext } from "../context.ts";
import { errorBody } from "../errors.ts";
import { type Env, guard } from "../http.ts";
import { openApiDocument } from "../openapi.ts";

export function opsRoutes(ctx: LogContext) {
  const app = new Hono<Env>();
  let openapi: string | undefined;
  let lastLogged = 0;
  const unavailable = (what: string, e: unknown) => {
    if (Date.now() - lastLogged >= 10_000) {
      lastLogged = Date.now();
      ctx.say(`/healthz: ${what} unreachable: ${(e as Error)?.message ?? e}`);
    }
    return errorBody("unavailable", `${what} unreachable; the details are in the server's output`);
  };
  const metricsAuth: MiddlewareHandler<Env> = ctx.publicMetrics
    ? async (_c, next) => next()
    : guard(ctx, "read");

  app.get("/healthz", async (c) => {
    try {
      const [state] = await ctx.sql.query<{ size: number }>(
        "SELECT size FROM log_state WHERE id = 1",
      );
      const newest = await latestCheckpointTime(ctx.sql);
      // With a read replica, reads go there: it must answer too, or this process serves no reads.
      let replica: { readCheckpointSize: number | null; readLagCheckpoints: number } | undefined;
      if (ctx.readSql !== ctx.sql) {
        try {
          const read = await latestCheckpoint(ctx.readSql);
          replica = {
            readCheckpointSize: read?.size ?? null,
            readLagCheckpoints: Math.max(0, (newest?.size ?? 0) - (read?.size ?? 0)),
          };
        } catch (e) {
          c.header("Retry-After", "1");
          return c.json(unavailable("read database", e), 503);
        }
      }
      return c.json({
        ok: true,
        origin: ctx.origin,
        treeSize: state?.size ?? 0,
        checkpointSize: newest?.size ?? null,
        checkpointAgeSeconds: newest ? (Date.now() - newest.created_at.getTime()) / 1000 : null,
        ...replica,
      });
    } catch (e) {
      c.header("Retry-After", "1");
      return c.json(unavailable("database", e), 503);
    }
  });

  app.get("/metrics", metricsAuth, async (c) => {
    const cp = await latestCheckpoint(ctx.readSql).catch(() => undefined);
    if (cp) ctx.metrics.checkpointSize.set(cp.size);
    return c.body(ctx.metrics.registry.render(), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });

  app.get("/openapi.json", (c) => {
    openapi ??= JSON.stringify(openApiDocument(ctx.origin));
    return c.body(openapi, 200, { "Content-Type": "application/json" });
  });

  return app;
}
