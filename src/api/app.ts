// The log's HTTP API (docs/design.md §3) as one hono app: one router per resource, thin handlers,
// and one onError that turns every failure into `{"error": {"code", "message"}}`.

import { Hono } from "hono";
import type { LogContext } from "./context.ts";
import { errorBody, toResponse } from "./errors.ts";
import type { Env } from "./http.ts";
import { entryRoutes } from "./routes/entries.ts";
import { erasureRoutes } from "./routes/erasures.ts";
import { keyRoutes } from "./routes/keys.ts";
import { opsRoutes } from "./routes/ops.ts";
import { proofRoutes } from "./routes/proofs.ts";
import { submitRoutes } from "./routes/submit.ts";
import { tileRoutes } from "./routes/tiles.ts";
import { uiRoutes } from "./routes/ui.ts";

export function createApp(ctx: LogContext): Hono<Env> {
  const app = new Hono<Env>();
  app.use(async (c, next) => {
    await next();
    const route = c.req.routePath || "unmatched";
    ctx.metrics.requests.inc({ method: c.req.method, route, status: String(c.res.status) });
  });
  app.route("/", tileRoutes(ctx));
  app.route("/", submitRoutes(ctx));
  app.route("/", proofRoutes(ctx));
  app.route("/", entryRoutes(ctx));
  app.route("/", erasureRoutes(ctx));
  app.route("/", keyRoutes(ctx));
  app.route("/", opsRoutes(ctx));
  app.route("/", uiRoutes());
  app.get("/", (c) =>
    c.json({
      name: "tmuxtrail",
      origin: ctx.origin,
      verifierKey: ctx.verifierKey,
      // The witnesses this log asks to cosign: what a verifier may choose to require (the UI
      // prefills its trust form with them), never a policy by itself.
      witnesses: ctx.witnessKeys,
      witnessQuorum: ctx.witnessQuorum,
      checkpoint: "/checkpoint",
      openapi: "/openapi.json",
      ui: "/ui",
    }),
  );
  app.notFound((c) =>
    c.json(errorBody("not-found", `no route for ${c.req.method} ${c.req.path}`), 404),
  );
  app.onError((e, c) => toResponse(e, c, ctx.say));
  return app;
}
