// The witness's HTTP API: C2SP tlog-witness POST /add-checkpoint, the monitoring read
// GET /<hex SHA-256(origin)>/checkpoint, the hash tiles it verified for that log at
// GET /<hex SHA-256(origin)>/tile/<L>/<N>[.p/<W>] (C2SP tlog-tiles layout, tile-store.ts; exactly
// the width asked for, cut from a wider tile when that is what is held; 404 when not held that
// wide), GET /v1/evidence, GET /metrics (public), GET /healthz.

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { utf8Decode } from "../core/encoding.ts";
import { isTrailError } from "../core/errors.ts";
import { parseTilePath } from "../core/tiles.ts";
import { MAX_ADD_CHECKPOINT_BODY } from "../core/tlog-witness.ts";
import { addCheckpoint, type WitnessDeps } from "./add-checkpoint.ts";
import { originHash } from "./gossip.ts";
import { renderWitnessMetrics } from "./metrics.ts";
import { listEvidence, readState } from "./store.ts";
import { readTile } from "./tile-store.ts";
import { DEFAULT_RECONCILE_DEADLINE } from "./unreconciled.ts";

const text = (body: string, status: number, type = "text/plain; charset=utf-8") =>
  new Response(body, { status, headers: { "Content-Type": type } });

export function witnessApp(deps: WitnessDeps, say: (m: string) => void): Hono {
  const app = new Hono();
  const byHash = new Map([...deps.logs.keys()].map((o) => [originHash(o), o]));
  app.post(
    "/add-checkpoint",
    bodyLimit({
      maxSize: MAX_ADD_CHECKPOINT_BODY,
      onError: () => text("body larger than 16 KiB\n", 400),
    }),
    async (c) => {
      let body: string;
      try {
        body = utf8Decode(new Uint8Array(await c.req.arrayBuffer()), "body");
      } catch (e) {
        if (isTrailError(e)) return text(`${e.message}\n`, 400);
        throw e;
      }
      const r = await addCheckpoint(deps, body);
      if (r.status === 200) return text(r.cosignature, 200);
      if (r.status === 409) return text(`${r.size}\n`, 409, "text/x.tlog.size");
      if (r.status === 503)
        return new Response(`${r.message}\n`, {
          status: 503,
          headers: { "Content-Type": "text/plain; charset=utf-8", "Retry-After": "60" },
        });
      return text(`${r.message}\n`, r.status);
    },
  );
  app.get("/:hash/checkpoint", async (c) => {
    const origin = byHash.get(c.req.param("hash"));
    const state = origin === undefined ? undefined : await readState(deps.sql, origin);
    if (!state) return text("no checkpoint cosigned for that log\n", 404);
    return c.body(state.note, 200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache",
    });
  });
  app.get("/:hash/tile/*", async (c) => {
    const hash = c.req.param("hash");
    const origin = byHash.get(hash);
    if (origin === undefined) return text("not found\n", 404);
    let t: ReturnType<typeof parseTilePath>;
    try {
      t = parseTilePath(c.req.path.slice(hash.length + 2));
    } catch (e) {
      if (isTrailError(e)) return text(`${e.message}\n`, 400);
      throw e;
    }
    if (t.kind !== "hash") return text("this witness keeps hash tiles only\n", 404);
    const data = await readTile(deps.sql, origin, t.level, t.index, t.width);
    if (!data) return text("tile not held\n", 404);
    return c.body(data.slice(), 200, { "Content-Type": "application/octet-stream" });
  });
  app.get("/v1/evidence", async (c) => c.json(await listEvidence(deps.sql)));
  app.get("/metrics", async () =>
    text(
      await renderWitnessMetrics(deps.sql, deps.metrics, deps.logs.keys(), {
        now: deps.now(),
        deadline: deps.reconcileDeadline ?? DEFAULT_RECONCILE_DEADLINE,
      }),
      200,
      "text/plain; version=0.0.4; charset=utf-8",
    ),
  );
  app.get("/healthz", async (c) => {
    const logs = await Promise.all(
      [...deps.logs.keys()].map(async (origin) => ({
        origin,
        size: (await readState(deps.sql, origin))?.size ?? null,
      })),
    );
    return c.json({ ok: true, logs });
  });
  app.notFound(() => text("not found\n", 404));
  app.onError((e) => {
    say(`witness: internal error: ${(e as Error).stack ?? e}`);
    return text("internal error\n", 500);
  });
  return app;
}
