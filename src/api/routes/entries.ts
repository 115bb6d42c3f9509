// Reading events (read scope): GET /v1/entries/:index (leaf, payload unless erased, leaf hash and
// an inclusion proof to the newest checkpoint), GET /v1/entries?from=I&limit=N (a run of entries in
// tree order, for feeds), GET /v1/sessions (filters: host, user, since, until, command; paged
// newest first), GET /v1/sessions/:id/events (in tree order, paged by index) and
// GET /v1/sessions/:id/export (a session bundle that verifies offline: v2 by default, a tlog-proof
// per event; ?format=v3 streams the compact form, optionally a time window ?since=&until=).
//
// Every answer that carries payload content is recorded first as an `access` event (access.ts),
// and so is every session search by command text: its answer says what command lines hold, and
// repeated searches read them out character by character. Those searches are also rate-limited per
// key (serve --search-rate-limit).

import { Hono } from "hono";
import { base64Encode, utf8Decode } from "../../core/encoding.ts";
import { SESSION_ID_RE } from "../../core/session-id.ts";
import { utcTimeOrDate } from "../../core/time-window.ts";
import type { SlotRef } from "../../db/batch-store.ts";
import { checkpointOfSize, latestCheckpoint, servedCheckpoint } from "../../db/checkpoints.ts";
import type { Sql } from "../../db/sql.ts";
import { exportSession, readEvents } from "../../server/export.ts";
import { exportSessionStream } from "../../server/export-stream.ts";
import { proveInclusion } from "../../server/tree-reader.ts";
import { recordAccess } from "../access.ts";
import type { LogContext } from "../context.ts";
import { ApiError, badRequest, notFound, replicaBehind } from "../errors.ts";
import { type Env, guard, queryInt } from "../http.ts";

interface EntryRow {
  idx: number;
  leaf_hash: Uint8Array;
  leaf: Uint8Array;
  salt: Uint8Array | null;
  content: Uint8Array | null;
}

/**
 * The entries of the leaves rows `where` (with its ORDER and LIMIT) selects, their leaf, salt and
 * content read from the batches (§4.9) the rows name.
 */
async function readEntries(ctx: LogContext, where: string, params: unknown[]): Promise<EntryRow[]> {
  // The batch's version with each row (a join on its primary key): a contents part cached at that
  // version is used as it is, so a read of cached batches is this one query (batch-store.ts).
  const rows = await ctx.readSql.query<SlotRef & { idx: number; leaf_hash: Uint8Array }>(
    `SELECT l.idx, l.leaf_hash, l.batch, l.slot, b.version
       FROM leaves l LEFT JOIN batches b ON b.id = l.batch ${where}`,
    params,
  );
  const events = await readEvents(ctx.batches, rows);
  return rows.map((r, i) => ({
    idx: r.idx,
    leaf_hash: r.leaf_hash,
    leaf: events[i]!.leaf,
    salt: events[i]!.payload?.salt ?? null,
    content: events[i]!.payload?.content ?? null,
  }));
}

/** An entry as JSON: the leaf as parsed JSON when it is an event, else base64. */
export function entryJson(r: EntryRow) {
  let event: unknown;
  try {
    event = JSON.parse(utf8Decode(r.leaf));
  } catch {
    event = undefined;
  }
  const payload =
    r.content && r.salt
      ? { salt: base64Encode(r.salt), content: base64Encode(r.content), enc: "base64" }
      : null;
  const hasPayload = typeof event === "object" && event !== null && "payload" in event;
  return {
    index: r.idx,
    leafHash: base64Encode(r.leaf_hash),
    leaf: base64Encode(r.leaf),
    ...(event !== undefined ? { event } : {}),
    payload,
    erased: hasPayload && payload === null,
  };
}

function parseTime(v: string | undefined, name: string): string | undefined {
  if (v === undefined) return undefined;
  const t = utcTimeOrDate(v);
  if (t === undefined) throw badRequest(`${name} must be an RFC 3339 time or a date (YYYY-MM-DD)`);
  return t;
}

async function sessionById(sql: Sql, id: string) {
  if (!SESSION_ID_RE.test(id)) throw badRequest("malformed session id");
  const rows = await sql.query<SessionRow>(`${SESSION_SELECT} WHERE id = $1`, [id]);
  if (!rows[0]) throw notFound(`no session ${id}`);
  return rows[0];
}

interface SessionRow {
  id: string;
  host: string;
  server: string;
  session: string;
  user: string;
  first_idx: number;
  last_idx: number;
  first_time: Date;
  last_time: Date;
  events: number;
}

const SESSION_SELECT =
  'SELECT id, host, server, session, "user", first_idx, last_idx, first_time, last_time, events FROM sessions';

const sessionJson = (r: SessionRow) => ({
  id: r.id,
  host: r.host,
  server: r.server,
  session: r.session,
  user: r.user,
  firstIndex: r.first_idx,
  lastIndex: r.last_idx,
  start: r.first_time.toISOString(),
  end: r.last_time.toISOString(),
  events: r.events,
});

export function entryRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.get("/v1/entries/:index", guard(ctx, "read"), async (c) => {
    const raw = c.req.param("index");
    if (!/^(0|[1-9][0-9]{0,15})$/.test(raw))
      throw badRequest("index must be a non-negative integer");
    const index = Number(raw);
    const rows = await readEntries(ctx, "WHERE l.idx = $1", [index]);
    const row = rows[0];
    if (!row) {
      if (ctx.readSql !== ctx.sql) {
        const primary = await ctx.sql.query<{ size: number }>("SELECT size FROM log_state");
        if (index < Number(primary[0]?.size ?? 0)) throw replicaBehind(`leaf ${index}`);
      }
      throw notFound(`no leaf at index ${index}`);
    }
    if (row.content) await recordAccess(ctx, c, `entry ${index}`);
    const cp = await latestCheckpoint(ctx.readSql);
    const served = cp && index < cp.size ? await servedCheckpoint(ctx.readSql) : undefined;
    const proof =
      cp && index < cp.size
        ? (await proveInclusion(ctx.readSql, index, cp.size, ctx.hasher)).map(base64Encode)
        : null;
    return c.json({
      ...entryJson(row),
      checkpoint: served?.size === cp?.size ? (served?.note ?? null) : (cp?.note ?? null),
      size: cp && index < cp.size ? cp.size : null,
      proof,
    });
  });

  app.get("/v1/sessions", guard(ctx, "read"), async (c) => {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, v: unknown) => {
      params.push(v);
      where.push(clause.replace("?", `$${params.length}`));
    };
    const host = c.req.query("host");
    const user = c.req.query("user");
    const since = parseTime(c.req.query("since"), "since");
    const until = parseTime(c.req.query("until"), "until");
    const limit = queryInt(c, "limit") ?? 100;
    if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000");
    const before = c.req.query("before");
    const command = c.req.query("command");
    if (command !== undefined && (command.length === 0 || command.length > 256)) {
      throw badRequest("command must be 1 to 256 characters");
    }
    if (host !== undefined) add("host = ?", host);
    if (user !== undefined) add('"user" = ?', user);
    if (since !== undefined) add("last_time >= ?", since);
    if (until !== undefined) add("first_time <= ?", until);
    if (before !== undefined) {
      const t = parseTime(before, "before");
      add("last_time < ?", t);
    }
    if (command !== undefined) {
      // Sessions that ran a command line containing the text (case-insensitive), among command
      // events whose content is still present: command_payloads holds them uncompressed, so the
      // search inflates no batch (§4.9).
      add(
        `EXISTS (SELECT 1 FROM leaves l JOIN command_payloads p ON p.leaf_hash = l.leaf_hash
          WHERE l.session = sessions.session AND l.host = sessions.host AND l.server = sessions.server
            AND l.type = 'command'
            AND strpos(lower(convert_from(p.content, 'UTF8')::jsonb->>'line'), lower(?)) > 0)`,
        command,
      );
    }
    if (command !== undefined) {
      ctx.searchLimiter?.take(c.get("principal").id);
      await recordAccess(ctx, c, `sessions with a command containing ${JSON.stringify(command)}`);
    }
    params.push(limit);
    const rows = await ctx.readSql.query<SessionRow>(
      `${SESSION_SELECT} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY last_time DESC, id LIMIT $${params.length}`,
      params,
    );
    return c.json(rows.map(sessionJson));
  });

  app.get("/v1/sessions/:id", guard(ctx, "read"), async (c) => {
    return c.json(sessionJson(await sessionById(ctx.readSql, c.req.param("id"))));
  });

  app.get("/v1/sessions/:id/events", guard(ctx, "read"), async (c) => {
    const s = await sessionById(ctx.readSql, c.req.param("id"));
    const after = queryInt(c, "after");
    const limit = queryInt(c, "limit") ?? 1000;
    if (limit < 1 || limit > 10000) throw badRequest("limit must be between 1 and 10000");
    const rows = await readEntries(
      ctx,
      `WHERE l.host = $1 AND l.server = $2 AND l.session = $3 AND l.idx > $4
        ORDER BY l.idx LIMIT $5`,
      [s.host, s.server, s.session, after ?? -1, limit],
    );
    if (rows.some((r) => r.content)) {
      await recordAccess(
        ctx,
        c,
        `session ${s.id} events ${rows[0]!.idx}..${rows[rows.length - 1]!.idx}`,
      );
    }
    return c.json({ session: sessionJson(s), events: rows.map(entryJson) });
  });

  app.get("/v1/sessions/:id/export", guard(ctx, "read"), async (c) => {
    const s = await sessionById(ctx.readSql, c.req.param("id"));
    const format = c.req.query("format") ?? "v2";
    if (format !== "v2" && format !== "v3") throw badRequest("format must be v2 or v3");
    const since = parseTime(c.req.query("since"), "since");
    const until = parseTime(c.req.query("until"), "until");
    const casts = c.req.query("casts");
    if (casts !== undefined && casts !== "0" && casts !== "1")
      throw badRequest("casts must be 0 or 1");
    // The windows of one session proven against one checkpoint (the web UI asks for the size the
    // first window was proven at): any stored checkpoint, with its cosignatures.
    const size = queryInt(c, "size");
    if (format === "v2" && (since || until || casts !== undefined || size !== undefined)) {
      throw badRequest(
        "since, until, casts and size need format=v3 (a v2 bundle is the whole session with its casts)",
      );
    }
    if (since && until && since >= until) throw badRequest("since must be before until");
    const checkpoint =
      size === undefined
        ? await servedCheckpoint(ctx.readSql, ctx.witnessQuorum)
        : await checkpointOfSize(ctx.readSql, size);
    if (size !== undefined && !checkpoint) throw notFound(`no checkpoint of size ${size}`);
    if (!checkpoint || checkpoint.size <= s.first_idx) {
      throw new ApiError(
        409,
        "not-yet-checkpointed",
        "no checkpoint covers this session yet; retry in a moment",
        { "Retry-After": "1" },
      );
    }
    const window = since || until ? ` (${since ?? "start"} to ${until ?? "end"})` : "";
    await recordAccess(ctx, c, `export of session ${s.id}${window}`);
    const input = {
      sql: ctx.readSql,
      batches: ctx.batches,
      hasher: ctx.hasher,
      origin: ctx.origin,
      logKey: ctx.verifierKey,
      witnessKeys: ctx.witnessKeys,
      witnessQuorum: ctx.witnessQuorum,
      checkpoint,
      session: s,
    };
    c.header("Content-Disposition", `attachment; filename="session-${s.id}.json"`);
    if (format === "v2") return c.json(await exportSession(input));
    // v3 streams: written as it is read. A failure half-way aborts the response (the document is
    // then incomplete JSON, which no reader accepts); it is logged here.
    const pieces = exportSessionStream({
      ...input,
      window: { since, until },
      casts: casts === "1",
    });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await pieces.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        } catch (e) {
          ctx.say(`export of session ${s.id}: ${(e as Error).message}`);
          controller.error(e);
        }
      },
      async cancel() {
        await pieces.return(undefined);
      },
    });
    return c.body(body, 200, { "Content-Type": "application/json" });
  });

  app.get("/v1/entries", guard(ctx, "read"), async (c) => {
    const from = queryInt(c, "from") ?? 0;
    const limit = queryInt(c, "limit") ?? 1000;
    if (limit < 1 || limit > 10000) throw badRequest("limit must be between 1 and 10000");
    const rows = await readEntries(ctx, "WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx", [
      from,
      from + limit,
    ]);
    if (rows.some((r) => r.content)) {
      await recordAccess(ctx, c, `entries ${rows[0]!.idx}..${rows[rows.length - 1]!.idx}`);
    }
    return c.json(rows.map(entryJson));
  });

  return app;
}
