// POST /v1/erasures (admin): deletes the payloads of one session, or of every event before a time,
// and appends `erasure` events naming them (src/server/erase.ts). Body:
//   {"session": "<session id>", "reason": "..."}  or  {"before": "<RFC 3339 time or date>", "reason": "..."}
// Answers {erased, events: [indexes of the erasure events]} once a checkpoint with the witness
// quorum covers the erasure events (as `?wait=checkpoint` does for /v1/events), so a bundle
// exported right after verifies; else 504 checkpoint-timeout, the erasure done all the same and
// listed in error.erased and error.events.

import { Hono } from "hono";
import { z } from "zod";
import { isPrintable } from "../../core/printable.ts";
import { SESSION_ID_RE } from "../../core/session-id.ts";
import { TIME_OR_DATE } from "../../core/time-window.ts";
import { erase } from "../../server/erase.ts";
import type { LogContext } from "../context.ts";
import { badRequest, notFound } from "../errors.ts";
import { type Env, guard, limitBody, readJson } from "../http.ts";
import { waitForCheckpoint } from "./submit.ts";

export const erasureRequestSchema = z
  .object({
    session: z.string().regex(SESSION_ID_RE, "must be a session id").optional(),
    before: z.string().regex(TIME_OR_DATE, "must be an RFC 3339 time or a date").optional(),
    // Printed by tail, audit and the UI to auditors: printable text only (no terminal control).
    reason: z
      .string()
      .min(1)
      .max(1024)
      .refine(isPrintable, "must be printable text (no control or bidirectional characters)"),
  })
  .strict();

export function erasureRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.post("/v1/erasures", guard(ctx, "admin"), limitBody(16 * 1024), async (c) => {
    const parsed = erasureRequestSchema.safeParse(await readJson(c));
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw badRequest(`${i.path.join(".") || "body"}: ${i.message}`);
    }
    const body = parsed.data;
    if ((body.session === undefined) === (body.before === undefined)) {
      throw badRequest('give exactly one of "session" and "before"');
    }
    let scope: Parameters<typeof erase>[2];
    if (body.session !== undefined) {
      const rows = await ctx.sql.query<{ host: string; server: string; session: string }>(
        "SELECT host, server, session FROM sessions WHERE id = $1",
        [body.session],
      );
      if (!rows[0]) throw notFound(`no session ${body.session}`);
      if (rows[0].host === ctx.origin) throw badRequest("the log's own events carry no content");
      scope = { session: rows[0] };
    } else {
      const t = Date.parse(body.before!);
      if (Number.isNaN(t)) throw badRequest("before: not a valid time");
      if (t > Date.now()) throw badRequest("before: a time in the future would erase live content");
      scope = { before: new Date(t).toISOString() };
    }
    const key = c.get("principal").id;
    const result = await erase(ctx.sql, ctx.ownEvents, scope, key, body.reason);
    ctx.say(
      `erasure by ${key}: ${result.erased} payloads (events ${result.events.join(", ") || "none"}): ${body.reason}`,
    );
    if (result.events.length > 0) {
      await waitForCheckpoint(
        ctx,
        Math.max(...result.events) + 1,
        "the content is erased and the erasure events are sequenced (listed below)",
        "exports verify once a checkpoint covers them (GET /checkpoint)",
        { ...result },
      );
    }
    return c.json(result);
  });

  return app;
}
