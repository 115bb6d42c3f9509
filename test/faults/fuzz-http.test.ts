// Fault drill 4b: generated requests against every HTTP endpoint of an in-process log (hono's
// app.request, no sockets): bodies, paths, query strings, content types and tokens. Expected:
// never a 5xx, every /v1 error as {"error": {"code", "message"}}, and no state change from a
// rejected request (tree size, leaves, batches and their rewrites, command contents, sessions, keys
// and revocations are
// compared before and after each one; only a 409 may add a row to the operators' conflicts table).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64Encode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { hashTilePath } from "../../src/core/tiles.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN, openFilledLog, type TestLog } from "../support/log.ts";

const RUNS = 100;

interface Snapshot {
  size: number;
  leaves: number;
  batches: number;
  /** Sum of batches.version: every rewrite of a contents part (erasure, a scrub) moves it. */
  rewrites: number;
  commands: number;
  sessions: number;
  keys: number;
  revoked: number;
  conflicts: number;
}

let log: TestLog;
let tokens: (string | null)[];
let sessionId = "";
let baseline: Snapshot;
const problems: string[] = [];
const counts = new Map<number, number>();

async function snapshot(): Promise<Snapshot> {
  const [r] = await log.db.sql.query<Snapshot>(
    `SELECT (SELECT size FROM log_state WHERE id = 1)::int AS size,
            (SELECT count(*) FROM leaves)::int AS leaves,
            (SELECT count(*) FROM batches)::int AS batches,
            (SELECT coalesce(sum(version), 0) FROM batches)::int AS rewrites,
            (SELECT count(*) FROM command_payloads)::int AS commands,
            (SELECT count(*) FROM sessions)::int AS sessions,
            (SELECT count(*) FROM api_keys)::int AS keys,
            (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL)::int AS revoked,
            (SELECT count(*) FROM conflicts)::int AS conflicts`,
  );
  return r!;
}

/** Sends one request and checks the answer and the state; problems are collected, not thrown. */
async function probe(
  method: string,
  path: string,
  opts: { body?: BodyInit; type?: string; token?: string | null } = {},
): Promise<number | undefined> {
  try {
    new Request(`http://localhost${path}`);
  } catch {
    return undefined; // not a URL at all: nothing a client could send
  }
  const headers: Record<string, string> = {};
  if (opts.type !== undefined) headers["Content-Type"] = opts.type;
  const res = await log.req(path, {
    method,
    headers,
    body: opts.body,
    token: opts.token === undefined ? ADMIN : opts.token,
  });
  const text = await res.text();
  counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
  const what = `${method} ${path.slice(0, 200)} → ${res.status} ${text.slice(0, 200)}`;
  // A 5xx names the whole request, so that a rare one can be replayed.
  if (res.status >= 500)
    problems.push(
      `5xx: ${what}; body ${typeof opts.body === "string" ? JSON.stringify(opts.body).slice(0, 2000) : `${opts.body?.constructor?.name ?? "none"}`}; type ${opts.type}`,
    );
  // (A HEAD answer has no body to check.)
  if (res.status >= 400 && path.startsWith("/v1/") && method !== "HEAD") {
    let ok = false;
    try {
      const j = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      ok = typeof j.error?.code === "string" && typeof j.error?.message === "string";
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`error body not {"error": {code, message}}: ${what}`);
  }
  const after = await snapshot();
  if (res.status >= 400) {
    // A 409 records the conflict for operators, and the optimistic sequencer may have staged the
    // rejected events in a batch (never in the tree; step 3 scrubs their slots) and their command
    // contents (erasure "before" removes them).
    const a =
      res.status === 409
        ? {
            ...after,
            conflicts: baseline.conflicts,
            batches: baseline.batches,
            rewrites: baseline.rewrites,
            commands: baseline.commands,
          }
        : after;
    if (JSON.stringify(a) !== JSON.stringify(baseline))
      problems.push(
        `state changed by a rejected request: ${what}: ${JSON.stringify(baseline)} → ${JSON.stringify(after)}`,
      );
  }
  baseline = after;
  return res.status;
}

/** Query values: integers of every size and spelling, junk, encodings. */
const qvalue = fc.oneof(
  fc.integer({ min: -3, max: 40 }).map(String),
  fc.constantFrom(
    "",
    "0",
    "-0",
    "00",
    "01",
    "1e3",
    "0x10",
    "1.0",
    " 1",
    "9007199254740991",
    "9007199254740992",
    "99999999999999999999",
    "NaN",
    "Infinity",
    "%zz",
    "checkpoint",
    "2026-11-24",
    "2026-11-24T19:00:00Z",
    "2026-13-45T99:99:99Z",
    base64Encode(rfc6962.leaf(new Uint8Array([1]))),
  ),
  fc.string({ maxLength: 20 }),
);

function query(names: string[]): fc.Arbitrary<string> {
  const name = fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 6 }));
  return fc.oneof(
    fc.array(fc.tuple(name, qvalue), { maxLength: 4 }).map((kv) => {
      const q = new URLSearchParams();
      for (const [k, v] of kv) q.append(k, v);
      const s = q.toString();
      return s ? `?${s}` : "";
    }),
    // Raw, unencoded, sometimes broken percent escapes.
    fc
      .array(fc.tuple(name, qvalue), { maxLength: 3 })
      .map((kv) => `?${kv.map(([k, v]) => `${k}=${v.replace(/[ #]/g, "")}`).join("&")}`),
  );
}

const pathPiece = fc.oneof(
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.constantFrom(
    "x000",
    "x001",
    "000",
    "001",
    "999",
    "x999",
    ".p",
    "255",
    "256",
    "0",
    "..",
    "%2F",
  ),
);

const token = () => fc.constantFrom<string | null>(...tokens);

function validSub(seq: number, o: Record<string, unknown> = {}) {
  return makeBatch(1, seq, o)[0]!;
}

/** A valid submission with one field replaced by something generated (or removed). */
const eventLike = fc
  .tuple(
    fc.integer({ min: 0, max: 40 }),
    fc.constantFrom(
      "v",
      "host",
      "server",
      "session",
      "window",
      "pane",
      "user",
      "seq",
      "time",
      "type",
      "payload",
      "content",
      "salt",
      "enc",
      "redactions",
      "extra",
    ),
    fc.oneof(fc.anything({ maxDepth: 2 }), qvalue, fc.constant(undefined)),
  )
  .map(([seq, key, value]) => {
    const s = validSub(seq) as Record<string, unknown>;
    if (value === undefined) delete s[key];
    else s[key] = value;
    return s;
  });

// Bounded: each property has a fixed number of runs, and each test a minute at most.
describe("HTTP fuzzing: no 5xx, no state change from a rejected request", {
  timeout: 60_000,
}, () => {
  beforeAll(async () => {
    log = await openFilledLog(20);
    const mk = async (body: unknown) =>
      (
        (await (
          await log.req("/v1/keys", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(body),
          })
        ).json()) as { token: string }
      ).token;
    tokens = [
      ADMIN,
      ADMIN,
      await mk({ name: "fuzz submit", scopes: ["submit"], host: "web-1" }),
      await mk({ name: "fuzz read", scopes: ["read"] }),
      null,
      "garbage",
      "tt_0000000000000000000000000000000000000000000",
    ];
    const [s] = (await (await log.req("/v1/sessions")).json()) as { id: string }[];
    sessionId = s!.id;
    baseline = await snapshot();
  }, 60_000);
  afterAll(async () => {
    await log?.close();
  });

  const check = () => {
    const found = problems.splice(0);
    expect(found.slice(0, 10), `statuses ${JSON.stringify([...counts])}`).toEqual([]);
  };

  it("POST /v1/events", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(eventLike, { minLength: 1, maxLength: 3 }).map((a) => JSON.stringify(a)),
          eventLike.map((e) => JSON.stringify(e)),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 100 }),
          fc.constantFrom("", "[]", "[", "null", "{}", `[${JSON.stringify(validSub(3))}]`),
        ),
        fc.constantFrom(
          "application/json",
          "application/json; charset=utf-8",
          "text/plain",
          "application/octet-stream",
          undefined,
        ),
        query(["wait"]),
        token(),
        async (body, type, q, tok) => {
          await probe("POST", `/v1/events${q}`, { body, type, token: tok });
        },
      ),
      { numRuns: RUNS * 2 },
    );
    // A conflicting batch: none of it enters the tree (not even its non-conflicting event), and
    // none of it is served.
    const before = await snapshot();
    const fresh = validSub(25, { pane: "%fresh" });
    const status = await probe("POST", "/v1/events", {
      body: JSON.stringify([fresh, validSub(5, { content: "other" })]),
      type: "application/json",
    });
    expect(status).toBe(409);
    const after = await snapshot();
    expect({ size: after.size, leaves: after.leaves, sessions: after.sessions }).toEqual({
      size: before.size,
      leaves: before.leaves,
      sessions: before.sessions,
    });
    expect(after.conflicts).toBe(before.conflicts + 1);
    if (after.batches !== before.batches || after.commands !== before.commands)
      console.warn(
        `fuzz-http: a 409 batch left ${after.batches - before.batches} batch and ${after.commands - before.commands} command_payloads rows staged outside the tree (a conflict writes nothing into the tree: docs/design.md §5.2)`,
      );
    const page = (await (await log.req(`/v1/entries?from=0&limit=10000`)).json()) as unknown[];
    expect(page).toHaveLength(after.size);
    baseline = await snapshot(); // that read was recorded as an access event
    check();
  });

  it("POST /v1/leaves", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.constant(new TextEncoder().encode(JSON.stringify(validSub(1)))),
          fc.constant(new Uint8Array(65_536)),
        ),
        fc.constantFrom(
          "application/octet-stream",
          " Application/Octet-Stream ",
          "application/json",
          undefined,
        ),
        query(["wait"]),
        token(),
        async (body, type, q, tok) => {
          await probe("POST", `/v1/leaves${q}`, {
            body: body as unknown as BodyInit,
            type,
            token: tok,
          });
        },
      ),
      { numRuns: RUNS },
    );
    check();
  });

  it("POST /v1/erasures, POST /v1/keys, DELETE /v1/keys/:id", async () => {
    const erasure = fc
      .record(
        {
          session: fc.oneof(fc.constant(sessionId), fc.string({ maxLength: 24 })),
          before: qvalue,
          reason: fc.oneof(fc.constant(""), fc.string({ maxLength: 10 }), fc.anything()),
          extra: fc.anything(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o));
    const key = fc
      .record(
        {
          name: fc.oneof(fc.string({ maxLength: 10 }), fc.anything()),
          scopes: fc.oneof(
            fc.array(fc.constantFrom("read", "submit", "admin", "root", ""), { maxLength: 5 }),
            fc.anything(),
          ),
          host: fc.oneof(fc.string({ maxLength: 5 }), fc.anything()),
          extra: fc.anything(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("erasure", "key", "revoke"),
        fc.oneof(erasure, key, fc.string({ maxLength: 40 })),
        fc.oneof(fc.constant("application/json"), fc.constant("text/plain")),
        fc.oneof(
          pathPiece,
          fc.constantFrom("k_0000000000000000", "k_zzzzzzzzzzzzzzzz", "k_00000000000000000"),
        ),
        token(),
        async (kind, body, type, id, tok) => {
          if (kind === "revoke") await probe("DELETE", `/v1/keys/${id}`, { token: tok });
          else
            await probe("POST", kind === "erasure" ? "/v1/erasures" : "/v1/keys", {
              body,
              type,
              token: tok,
            });
        },
      ),
      { numRuns: RUNS * 2 },
    );
    check();
  });

  it("GET /checkpoint, /tile/..., /tile/entries/...", async () => {
    const tilePath = fc.oneof(
      fc.array(pathPiece, { minLength: 1, maxLength: 5 }).map((p) => `/tile/${p.join("/")}`),
      fc
        .array(pathPiece, { minLength: 1, maxLength: 5 })
        .map((p) => `/tile/entries/${p.join("/")}`),
      fc
        .record({
          level: fc.integer({ min: 0, max: 63 }),
          index: fc.oneof(fc.nat({ max: 3 }), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
          width: fc.integer({ min: 1, max: 256 }),
        })
        .map((t) => `/${hashTilePath(t)}`),
      fc
        .tuple(fc.nat({ max: 2 }), fc.integer({ min: 1, max: 256 }))
        .map(([i, w]) => `/tile/entries/00${i}${w < 256 ? `.p/${w}` : ""}`),
      fc.constant("/checkpoint"),
    );
    await fc.assert(
      fc.asyncProperty(tilePath, query(["x"]), token(), async (p, q, tok) => {
        await probe("GET", `${p}${q}`, { token: tok });
      }),
      { numRuns: RUNS * 2 },
    );
    check();
  });

  it("GET /v1/proof/inclusion and /v1/proof/consistency", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("inclusion", "consistency"),
        query(["index", "hash", "size", "from", "to"]),
        token(),
        async (which, q, tok) => {
          await probe("GET", `/v1/proof/${which}${q}`, { token: tok });
        },
      ),
      { numRuns: RUNS * 2 },
    );
    check();
  });

  it("GET /v1/entries, /v1/entries/:index, /v1/sessions...", async () => {
    const path = fc.oneof(
      query(["from", "limit"]).map((q) => `/v1/entries${q}`),
      fc.oneof(pathPiece, qvalue.map(encodeURIComponent)).map((i) => `/v1/entries/${i}`),
      query(["host", "user", "since", "until", "limit", "before", "command"]).map(
        (q) => `/v1/sessions${q}`,
      ),
      fc
        .tuple(
          fc.oneof(fc.constant(sessionId), pathPiece),
          fc.constantFrom("", "/events", "/export"),
          query(["after", "limit"]),
        )
        .map(([id, sub, q]) => `/v1/sessions/${id}${sub}${q}`),
    );
    await fc.assert(
      fc.asyncProperty(path, token(), async (p, tok) => {
        await probe("GET", p, { token: tok });
      }),
      { numRuns: RUNS * 2 },
    );
    check();
  });

  it("GET /v1/keys, /healthz, /metrics, /openapi.json, /ui..., and any method on any path", async () => {
    const path = fc.oneof(
      fc.constantFrom(
        "/v1/keys",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/ui",
        "/ui/",
        `/ui/sessions/${sessionId}`,
        "/ui/assets/app.js",
        "/ui/../package.json",
        "/ui/%2e%2e/package.json",
        "/",
      ),
      fc
        .tuple(fc.constantFrom("/ui", "/v1", "/tile", ""), fc.array(pathPiece, { maxLength: 4 }))
        .map(([root, p]) => `${root}/${p.join("/")}`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "POST"),
        path,
        query(["x", "limit"]),
        token(),
        async (method, p, q, tok) => {
          await probe(method, `${p}${q}`, {
            token: tok,
            ...(method === "GET" || method === "HEAD"
              ? {}
              : { body: "{}", type: "application/json" }),
          });
        },
      ),
      { numRuns: RUNS * 2 },
    );
    check();
  });
});
