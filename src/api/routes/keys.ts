// API keys (admin scope): POST /v1/keys → 201 {id, name, scopes, host, token} (the token is shown
// this once), GET /v1/keys, DELETE /v1/keys/:id (revokes; the row stays for the record).
// GET /v1/keys/self (any valid key) → {name, scopes, host} of the bearer token itself, so an agent
// can learn at start which host its submit key is bound to.

import { Hono } from "hono";
import { z } from "zod";
import { SCOPES } from "../auth.ts";
import type { LogContext } from "../context.ts";
import { badRequest, notFound } from "../errors.ts";
import { type Env, guard, limitBody, readJson } from "../http.ts";

const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x20-\x7e]+$/, "printable ASCII");
export const createKeyBody = z
  .object({
    name,
    scopes: z
      .array(z.enum(SCOPES as [string, ...string[]]))
      .min(1)
      .max(3),
    host: z.string().min(1).max(256).optional(),
  })
  .strict();

export function keyRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.post("/v1/keys", guard(ctx, "admin"), limitBody(16 * 1024), async (c) => {
    const parsed = createKeyBody.safeParse(await readJson(c));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw badRequest(`${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const { scopes, host } = parsed.data;
    const unique = [...new Set(scopes)] as ("submit" | "read" | "admin")[];
    if (unique.includes("submit") && !host)
      throw badRequest('a key with the "submit" scope needs a "host"');
    const key = await ctx.auth.create(
      parsed.data.name,
      unique,
      unique.includes("submit") ? host! : null,
    );
    return c.json(key, 201);
  });

  app.get("/v1/keys", guard(ctx, "admin"), async (c) => c.json(await ctx.auth.list()));

  app.get("/v1/keys/self", guard(ctx, "any"), (c) => {
    const { name, scopes, host } = c.get("principal");
    return c.json({ name, scopes, host });
  });

  app.delete("/v1/keys/:id", guard(ctx, "admin"), async (c) => {
    const id = c.req.param("id");
    if (!/^k_[0-9a-f]{16}$/.test(id)) throw badRequest("malformed key id");
    if (!(await ctx.auth.revoke(id))) throw notFound(`no key ${id}`);
    const key = (await ctx.auth.list()).find((k) => k.id === id);
    return c.json(key);
  });

  return app;
}
