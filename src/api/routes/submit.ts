// Writing to the log: POST /v1/events (tmux events with content and salt, submit scope, bound to
// the key's host) and POST /v1/leaves (one opaque leaf). Both answer only after the leaves are
// durably sequenced; `?wait=checkpoint` also waits for a signed checkpoint covering them.

import { Hono } from "hono";
import { MAX_LEAF_SIZE } from "../../core/bundle.ts";
import { base64Encode } from "../../core/encoding.ts";
import { parseSubmission } from "../../core/events.ts";
import { leafHosts, readsAsEvent } from "../../core/own-events.ts";
import { CheckpointWaitTimeout } from "../../server/publisher.ts";
import { eventInput } from "../../server/sequencer/input.ts";
import { ConflictError, type LeafInput, type LeafResult } from "../../server/sequencer.ts";
import type { LogContext } from "../context.ts";
import { ApiError, badRequest } from "../errors.ts";
import { clientAddr, type Env, guard, limitBody, readJson } from "../http.ts";

export const MAX_EVENTS = 1000;
export const MAX_EVENTS_BODY = 4 * 1024 * 1024;

const answer = (r: LeafResult) => ({
  index: r.index,
  leafHash: base64Encode(r.leafHash),
  duplicate: r.duplicate,
});

export function submitRoutes(ctx: LogContext) {
  const app = new Hono<Env>();

  app.post("/v1/events", guard(ctx, "submit"), limitBody(MAX_EVENTS_BODY), async (c) => {
    const wait = waitMode(c.req.query("wait"));
    const body = await readJson(c);
    if (!Array.isArray(body))
      throw badRequest("the body must be a JSON array of events", "bad-event");
    if (body.length === 0) throw badRequest("the array holds no event", "bad-event");
    if (body.length > MAX_EVENTS) {
      throw new ApiError(
        413,
        "too-large",
        `at most ${MAX_EVENTS} events per request, got ${body.length}`,
      );
    }
    const p = c.get("principal");
    const leaves: LeafInput[] = body.map((item, i) => {
      let s: ReturnType<typeof parseSubmission>;
      try {
        s = parseSubmission(item, ctx.hasher.digest);
      } catch (e) {
        if (e instanceof Error) e.message = `event ${i}: ${e.message}`;
        throw e;
      }
      const m = s.meta;
      if (m.type === "erasure" || m.type === "access" || m.host === ctx.origin) {
        throw new ApiError(
          403,
          "reserved",
          `event ${i}: ${m.host === ctx.origin ? `host "${m.host}" is the log's own` : `${m.type} events are written by the log itself`}`,
        );
      }
      if (p.host !== null && m.host !== p.host) {
        ctx.denials.record({ status: 403, key: p.id, addr: clientAddr(c), path: c.req.path });
        throw new ApiError(
          403,
          "wrong-host",
          `event ${i} is for host "${m.host}" but this key is bound to "${p.host}"`,
        );
      }
      return eventInput(
        m,
        s.leaf,
        ctx.hasher,
        s.content && s.salt ? { salt: s.salt, content: s.content } : undefined,
      );
    });
    const results = await sequence(ctx, leaves, p.id);
    await maybeWait(ctx, wait, results);
    return c.json(results.map(answer));
  });

  app.post("/v1/leaves", guard(ctx, "submit"), limitBody(MAX_LEAF_SIZE), async (c) => {
    const wait = waitMode(c.req.query("wait"));
    const type = (c.req.header("Content-Type") ?? "").trim().toLowerCase();
    if (type !== "application/octet-stream") {
      throw new ApiError(
        415,
        "unsupported-media-type",
        "send Content-Type: application/octet-stream",
      );
    }
    const leaf = new Uint8Array(await c.req.arrayBuffer());
    // Only the log writes as its origin, and a leaf that reads as a tmux event (own-events.ts, rule
    // 2) must come through /v1/events (validated, indexed, with its stream position): verifiers
    // and `audit` take such leaves for events, and the log's own erasure and access events among
    // them for the log's word.
    if (leafHosts(leaf).includes(ctx.origin)) {
      throw new ApiError(403, "reserved", `host "${ctx.origin}" is the log's own`);
    }
    if (readsAsEvent(leaf)) {
      throw badRequest(
        "this leaf reads as a tmux event (a JSON object with v and host, an event type, or an erasure or access member): submit events through POST /v1/events",
        "bad-leaf",
      );
    }
    const results = await sequence(
      ctx,
      [{ leaf, leafHash: ctx.hasher.leaf(leaf) }],
      c.get("principal").id,
    );
    await maybeWait(ctx, wait, results);
    return c.json(answer(results[0]!));
  });

  return app;
}

function waitMode(v: string | undefined): boolean {
  if (v === undefined) return false;
  if (v === "checkpoint") return true;
  throw badRequest('wait must be "checkpoint"');
}

async function sequence(
  ctx: LogContext,
  leaves: LeafInput[],
  keyId: string,
): Promise<LeafResult[]> {
  try {
    const results = await ctx.sequencer.submit(leaves);
    let fresh = 0;
    for (const r of results) if (!r.duplicate) fresh++;
    ctx.metrics.leaves.inc({}, fresh);
    ctx.metrics.duplicates.inc({}, results.length - fresh);
    return results;
  } catch (e) {
    if (e instanceof ConflictError) {
      ctx.metrics.conflicts.inc();
      const l = leaves[e.position];
      if (l?.stream) {
        // Kept for operators, never as a leaf; best effort (the 409 is the answer either way).
        await ctx.sql
          .query(
            `INSERT INTO conflicts (host, server, pane, seq, existing_leaf_hash, rejected_leaf, key_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [
              l.stream.host,
              l.stream.server,
              l.stream.pane,
              l.stream.seq,
              e.existingLeafHash,
              l.leaf,
              keyId,
            ],
          )
          .catch((err) => ctx.say(`could not record a conflict: ${(err as Error).message}`));
      }
    }
    throw e;
  }
}

/**
 * `?wait=checkpoint`: holds the answer until a checkpoint with the witness quorum covers the
 * leaves. When none does in time (witnesses down, with a quorum above 0), 504 checkpoint-timeout:
 * the leaves are sequenced all the same, the body says so and lists them, and sending the same
 * request again answers them as duplicates.
 */
async function maybeWait(ctx: LogContext, wait: boolean, results: LeafResult[]): Promise<void> {
  if (!wait) return;
  await waitForCheckpoint(
    ctx,
    Math.max(...results.map((r) => r.index)) + 1,
    "the leaves are sequenced (indexes below)",
    "send the same request again to wait again",
    { results: results.map(answer) },
  );
}

/**
 * Waits until a checkpoint with the witness quorum covers the first `size` leaves; when none does
 * within serve --wait-timeout, 504 checkpoint-timeout saying what was `done` (with `detail` in the
 * error body) and what to do `then`. POST /v1/events?wait=checkpoint and POST /v1/erasures use it.
 */
export async function waitForCheckpoint(
  ctx: LogContext,
  size: number,
  done: string,
  then: string,
  detail: Record<string, unknown>,
): Promise<void> {
  try {
    await ctx.publisher.waitFor(size, ctx.waitTimeoutMs);
  } catch (e) {
    if (!(e instanceof CheckpointWaitTimeout)) throw e;
    const quorum = ctx.witnessQuorum;
    throw new ApiError(
      504,
      "checkpoint-timeout",
      `${done}, but no checkpoint${quorum ? ` with ${quorum} witness cosignature${quorum > 1 ? "s" : ""}` : ""} covered them within ${e.timeoutMs / 1000} s; ${then}`,
      { "Retry-After": "5" },
      detail,
    );
  }
}
