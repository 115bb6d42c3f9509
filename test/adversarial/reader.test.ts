// The attacker holds a read key, or no key at all, and talks to the log over HTTP; or it is the
// server a mistyped or hostile --log URL names. It must not read content without a trace (a search
// by command text answers questions about command lines), guess tokens at the network's speed,
// make the log keep something for each token it invents, learn about the database from /healthz
// or about keys and clients from /metrics, nor receive the admin token from a command that only
// reads.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/api/rate-limit.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN, ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { BIN } from "../support/proc.ts";
import { type Served, serve, tempDir } from "../support/serve.ts";

const SECRET_LINE = "mysql -u root -pHunter2x";
const SESSION = sessionId("web-1", "default@1764050000", "$1");

const logs: TestLog[] = [];
const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const c of cleanups.splice(0)) await c();
});

async function testLog(opts: Parameters<typeof openTestLog>[0] = {}): Promise<TestLog> {
  const l = await openTestLog(opts);
  logs.push(l);
  return l;
}

/** A pane that ran SECRET_LINE. */
async function withCommand(l: TestLog): Promise<void> {
  const events = [
    makeSubmission({ seq: 0, type: "pane-open" }),
    makeSubmission({
      seq: 1,
      type: "command",
      content: JSON.stringify({
        cwd: "/srv",
        end: "2026-11-24T19:00:01.000Z",
        exit: 0,
        line: SECRET_LINE,
        start: "2026-11-24T19:00:00.500Z",
      }),
    }),
  ];
  const res = await l.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(events),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

async function accessEvents(l: TestLog): Promise<{ key: string; read: string }[]> {
  const rows = await l.db.sql.query<{ batch: number; slot: number }>(
    "SELECT batch, slot FROM leaves WHERE host = $1 AND pane = 'access' ORDER BY seq",
    [ORIGIN],
  );
  const leaves = await new BatchStore(l.db.sql).leaves(rows);
  return leaves.map(
    (leaf) =>
      (JSON.parse(Buffer.from(leaf).toString()) as { access: { key: string; read: string } })
        .access,
  );
}

const search = (l: TestLog, token: string, q: string) =>
  l.req(`/v1/sessions?command=${encodeURIComponent(q)}`, { token });

/** A request from a given client address (app.request with the socket node-server would give). */
const from = (l: TestLog, addr: string, path: string, token: string | null) =>
  Promise.resolve(
    l.app.request(
      path,
      { headers: token === null ? {} : { Authorization: `Bearer ${token}` } },
      { incoming: { socket: { remoteAddress: addr } } },
    ),
  );

const randomToken = () => `tt_${randomBytes(32).toString("base64url")}`;

describe("a reader searching sessions by command text", () => {
  it("leaves a trace of every search: an access event naming the key and the query, durable before the answer", async () => {
    const l = await testLog();
    await withCommand(l);
    const reader = await l.ctx.auth.create("curious", ["read"], null);
    const before = (await accessEvents(l)).length;
    // Reading the line out a character at a time: each probe answers "is this a prefix?".
    const probes = ["mysql -u root -pH", "mysql -u root -pHa", "mysql -u root -pHu"];
    const found: boolean[] = [];
    for (const q of probes) {
      const res = await search(l, reader.token, q);
      expect(res.status).toBe(200);
      found.push(((await res.json()) as { id: string }[]).some((s) => s.id === SESSION));
      // Recorded before the answer came back: it is already in the log.
      const now = await accessEvents(l);
      expect(now.at(-1)).toEqual({
        key: reader.id,
        read: `sessions with a command containing ${JSON.stringify(q)}`,
      });
    }
    expect(found).toEqual([true, false, true]);
    expect((await accessEvents(l)).length).toBe(before + probes.length);
    // Listing sessions without a command filter reads no content and is not recorded.
    expect((await l.req("/v1/sessions", { token: reader.token })).status).toBe(200);
    expect((await accessEvents(l)).length).toBe(before + probes.length);
  });

  it("gets no answer when the search cannot be recorded (503, nothing about the sessions)", async () => {
    const l = await testLog();
    await withCommand(l);
    const reader = await l.ctx.auth.create("curious", ["read"], null);
    l.ctx.ownEvents.access = async () => {
      throw new Error("the sequencer is stuck");
    };
    const res = await search(l, reader.token, "mysql");
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(await res.text()).not.toContain(SESSION);
  });

  it("cannot read command lines out at the network's speed: searches are rate-limited per key (429 with Retry-After)", async () => {
    const l = await testLog({ searchRateLimit: 5 });
    await withCommand(l);
    const a = await l.ctx.auth.create("curious", ["read"], null);
    const b = await l.ctx.auth.create("colleague", ["read"], null);
    for (let i = 0; i < 5; i++) expect((await search(l, a.token, `mysql ${i}`)).status).toBe(200);
    const refused = await search(l, a.token, "mysql -u root -pH");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate-limited");
    // The refused search was neither run nor recorded; other keys and other reads go on.
    expect((await accessEvents(l)).filter((e) => e.key === a.id)).toHaveLength(5);
    expect((await search(l, b.token, "mysql")).status).toBe(200);
    expect((await l.req("/v1/sessions", { token: a.token })).status).toBe(200);
  });
});

describe("someone without a key, inventing tokens", () => {
  it("leaves nothing behind: unknown tokens add no cache entry (only valid keys are cached)", async () => {
    const l = await testLog();
    const cache = (l.ctx.auth as unknown as { cache: Map<string, unknown> }).cache;
    for (let i = 0; i < 1000; i++) {
      const res = await l.req("/v1/sessions", { token: randomToken() });
      expect(res.status).toBe(401);
    }
    expect(cache.size).toBe(0);
    const reader = await l.ctx.auth.create("r", ["read"], null);
    expect((await l.req("/v1/sessions", { token: reader.token })).status).toBe(200);
    expect(cache.size).toBe(1);
  });

  it("from ever new addresses, leaves bounded state: the per-address budgets and the denial series are capped", async () => {
    const limiter = new RateLimiter(30, { perMs: 60_000 });
    for (let i = 0; i < 25_000; i++) limiter.take(`2001:db8:${i.toString(16)}::/64`);
    expect(limiter.size).toBeLessThanOrEqual(10_000);
    const l = await testLog();
    for (let i = 0; i < 1100; i++)
      l.ctx.denials.record({
        status: 401,
        key: "-",
        addr: `2001:db8::${i.toString(16)}`,
        path: "/",
      });
    const series = l.ctx.metrics.registry
      .render()
      .split("\n")
      .filter((x) => x.startsWith("tmuxtrail_denied_total{"));
    expect(series.length).toBeLessThanOrEqual(1001);
    expect(series.some((x) => x.includes('addr="other"'))).toBe(true);
  });

  it("is stopped per client address: past the failed authentications allowed, 429 with Retry-After before any token is looked at; other addresses go on; an IPv6 /64 counts as one", async () => {
    const l = await testLog({ authFailureLimit: 3 });
    const reader = await l.ctx.auth.create("r", ["read"], null);
    const statuses = async (addr: string, token: string | null, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await from(l, addr, "/v1/sessions", token)).status);
      return out;
    };
    expect(await statuses("198.51.100.7", "tt_guess", 5)).toEqual([401, 401, 401, 429, 429]);
    // No token, or one that cannot be a token, costs no lookup and is not counted.
    expect(await statuses("198.51.100.9", null, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(await statuses("198.51.100.9", "tt_guess", 3)).toEqual([401, 401, 401]);
    const res = await from(l, "198.51.100.7", "/v1/sessions", "tt_guess");
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    // Even a good token is not looked at from there for now (guessing a weak admin token would
    // otherwise go on at full speed); the same address written IPv4-mapped is the same address.
    expect(await statuses("::ffff:198.51.100.7", reader.token, 1)).toEqual([429]);
    expect(await statuses("198.51.100.8", reader.token, 1)).toEqual([200]);
    expect(await statuses("198.51.100.8", "tt_guess", 1)).toEqual([401]);
    expect(await statuses("2001:db8:1:2::a", "tt_guess", 3)).toEqual([401, 401, 401]);
    expect(await statuses("2001:db8:1:2:ffff::b", "tt_guess", 1)).toEqual([429]);
    expect(await statuses("2001:db8:1:3::a", "tt_guess", 1)).toEqual([401]);
    // Successful requests spend nothing, looked up or cached, one at a time or all at once.
    expect(await statuses("203.0.113.9", reader.token, 10)).toEqual(new Array(10).fill(200));
    const other = await l.ctx.auth.create("r2", ["read"], null);
    const burst = await Promise.all(
      Array.from({ length: 10 }, () =>
        from(l, "203.0.113.10", "/v1/sessions", other.token).then((r) => r.status),
      ),
    );
    expect(burst).toEqual(new Array(10).fill(200));
    expect(await statuses("203.0.113.10", "tt_guess", 4)).toEqual([401, 401, 401, 429]);
    // Guesses sent all at once are bounded too: each lookup takes its share when it starts.
    const guesses = await Promise.all(
      Array.from({ length: 10 }, () =>
        from(l, "192.0.2.1", "/v1/sessions", randomToken()).then((r) => r.status),
      ),
    );
    expect(guesses.sort()).toEqual([401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
  });
});

describe("anyone, reading the operations endpoints", () => {
  it("/healthz says the database is unreachable, never what the database said", async () => {
    const l = await testLog();
    const said =
      'password authentication failed for user "tmuxtrail" (db.internal.example:5432, 10.1.2.3)';
    const sql = l.ctx.sql;
    const lines: string[] = [];
    l.ctx.say = (m) => lines.push(m);
    l.ctx.sql = {
      ...sql,
      query: async () => {
        throw Object.assign(new Error(said), { code: "28P01" });
      },
    };
    try {
      const res = await l.req("/healthz", { token: null });
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text).not.toMatch(/password|tmuxtrail"|db\.internal|10\.1\.2\.3|5432/);
      expect(JSON.parse(text)).toEqual({
        error: {
          code: "unavailable",
          message: "database unreachable; the details are in the server's output",
        },
      });
      expect(lines.join("\n")).toContain(said); // the operator still gets the detail
    } finally {
      l.ctx.sql = sql;
    }
  });

  it("/metrics (key ids, client addresses) needs the read scope, unless the log is run with --public-metrics", {
    timeout: 60_000,
  }, async () => {
    const l = await testLog();
    const submit = await l.ctx.auth.create("agent", ["submit"], "web-1");
    const reader = await l.ctx.auth.create("prometheus", ["read"], null);
    expect((await l.req("/metrics", { token: null })).status).toBe(401);
    expect((await l.req("/metrics", { token: submit.token })).status).toBe(403);
    const ok = await l.req("/metrics", { token: reader.token });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("tmuxtrail_denied_total");
    const open = await testLog({ publicMetrics: true });
    expect((await open.req("/metrics", { token: null })).status).toBe(200);
  });
});

/** Runs the CLI from `cwd` (no ./data/admin.token there) with only `env`'s tokens. */
function cli(args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: {
      ...process.env,
      TMUXTRAIL_TOKEN: "",
      TMUXTRAIL_ADMIN_TOKEN: "",
      DATABASE_URL: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  child.stdout!.resume();
  return new Promise<{ code: number | null; err: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, err })),
  );
}

describe("the server a --log URL names", () => {
  it("never receives TMUXTRAIL_ADMIN_TOKEN from a command that only reads", {
    timeout: 120_000,
  }, async () => {
    const l = await testLog();
    await withCommand(l);
    await l.ctx.publisher.waitFor(2, 10_000);
    // A log that records every Authorization header it is sent.
    const seen: string[] = [];
    const server: Server = createServer(async (req, res) => {
      seen.push(req.headers.authorization ?? "");
      const body: Buffer[] = [];
      for await (const c of req) body.push(c as Buffer);
      const r = await l.app.request(req.url!, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: body.length ? Buffer.concat(body) : undefined,
      });
      res.writeHead(r.status, Object.fromEntries(r.headers));
      res.end(Buffer.from(await r.arrayBuffer()));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const dir = tempDir("tt-reader-cli-");
    const env = { TMUXTRAIL_ADMIN_TOKEN: ADMIN };
    const key = ["--log-key", TEST_KEY.verifierKey];
    const reads = [
      ["sessions", "list", "--log", url],
      ["export", SESSION, "--log", url, "--out", join(dir, "s.json")],
      ["tail", "--log", url, ...key],
      ["audit", "--log", url, ...key],
      ["verify", "inclusion", "--log", url, ...key, "--index", "0"],
      ["mirror", "--log", url, ...key, "--out", join(dir, "mirror"), "--entries"],
    ];
    const results = await Promise.all(reads.map((a) => cli(a, env, dir)));
    expect(seen.length).toBeGreaterThan(reads.length);
    expect(seen.filter((h) => h.includes(ADMIN))).toEqual([]);
    for (const r of results) expect(r.code).toBe(2); // the log refuses them: no read token given
    // A read token is sent when given, and an admin command still uses the admin token.
    const reader = await l.ctx.auth.create("auditor", ["read"], null);
    expect(
      (await cli(["sessions", "list", "--log", url], { TMUXTRAIL_TOKEN: reader.token }, dir)).code,
    ).toBe(0);
    expect((await cli(["keys", "list", "--log", url], env, dir)).code).toBe(0);
    expect(seen.at(-1)).toBe(`Bearer ${ADMIN}`);
  });
});

describe("a served log's defaults", () => {
  let db: TestDb | undefined;
  const served: Served[] = [];
  afterEach(async () => {
    for (const s of served.splice(0)) {
      s.proc.child.kill("SIGTERM");
      await s.proc.exited;
    }
    await db?.close();
    db = undefined;
  });

  async function start(args: string[] = []): Promise<Served> {
    if (process.env.DATABASE_URL) db = await openTestDb();
    const s = await serve({ data: tempDir(), schema: db?.schema, args });
    served.push(s);
    return s;
  }

  const get = (s: Served, path: string, token?: string) =>
    fetch(`${s.url}${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

  it("limit failed authentications per address, searches per key, and keep /metrics behind a token", {
    timeout: 120_000,
  }, async () => {
    const s = await start();
    const res = await fetch(`${s.url}/v1/keys`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ name: "r", scopes: ["read"] }),
    });
    const reader = ((await res.json()) as { token: string }).token;
    expect((await get(s, "/metrics")).status).toBe(401);
    expect((await get(s, "/metrics", reader)).status).toBe(200);
    // Sent all at once: each limit is taken when the request arrives, so a burst is bounded too
    // (by 30, plus one more for each 2 s the burst took: 30 a minute refill).
    const count = (statuses: number[], status: number) =>
      statuses.filter((x) => x === status).length;
    const burst = async (n: number, send: () => Promise<Response>) => {
      const t = performance.now();
      const answers = await Promise.all(Array.from({ length: n }, send));
      return { answers, refilled: Math.ceil((performance.now() - t) / 2000) };
    };
    const searches = await burst(40, () => get(s, "/v1/sessions?command=x", reader));
    const found = searches.answers.map((r) => r.status);
    expect(count(found, 200)).toBeGreaterThanOrEqual(30);
    expect(count(found, 200)).toBeLessThanOrEqual(30 + searches.refilled);
    expect(count(found, 429)).toBe(40 - count(found, 200));
    // 30 unknown tokens a minute from one address (no token at all costs nothing).
    expect((await get(s, "/v1/sessions")).status).toBe(401);
    const guesses = await burst(40, () => get(s, "/v1/sessions", randomToken()));
    const statuses = guesses.answers.map((r) => r.status);
    expect(count(statuses, 401)).toBeGreaterThanOrEqual(30);
    expect(count(statuses, 401)).toBeLessThanOrEqual(30 + guesses.refilled);
    expect(count(statuses, 429)).toBe(40 - count(statuses, 401));
    for (const r of guesses.answers)
      if (r.status === 429) expect(Number(r.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
  });

  it("--public-metrics opens /metrics; --auth-failure-limit 0 and --search-rate-limit 0 turn the limits off", {
    timeout: 120_000,
  }, async () => {
    const s = await start([
      "--public-metrics",
      "--auth-failure-limit",
      "0",
      "--search-rate-limit",
      "0",
    ]);
    expect((await get(s, "/metrics")).status).toBe(200);
    for (let i = 0; i < 40; i++)
      expect((await get(s, "/v1/sessions", randomToken())).status).toBe(401);
    for (let i = 0; i < 35; i++)
      expect((await get(s, `/v1/sessions?command=x${i}`, ADMIN)).status).toBe(200);
  });
});
