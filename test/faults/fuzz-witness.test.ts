// Fault drill 4c: generated requests against every HTTP endpoint of an in-process witness
// (POST /add-checkpoint, GET /<hash>/checkpoint, /v1/evidence, /healthz, anything else).
// Expected: never a 5xx, and no state change from a rejected request: the cosigned checkpoint
// stays the one it was, and evidence is added only where a validly signed checkpoint contradicts
// it (which no generated body here can be, the log key being the test's).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64Encode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey } from "../../src/core/keys.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import { witnessApp } from "../../src/witness/app.ts";
import { originHash } from "../../src/witness/gossip.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

const RUNS = 150;
const log = new MemoryLog("fuzz.example/log", 41);
const W = generateKey("witness.example/fuzz", new Uint8Array(32).fill(42));
let db: TestDb;
let app: ReturnType<typeof witnessApp>;
const problems: string[] = [];
const counts = new Map<number, number>();
let baseline = "";
/** Consistency proofs "old/size" between the sizes the bodies use. */
const proofs = new Map<string, Uint8Array[]>();

async function state(): Promise<string> {
  const rows = await db.sql.query<{ s: string }>(
    `SELECT json_build_object(
       'logs', (SELECT json_agg(json_build_array(origin, size, note) ORDER BY origin) FROM witness_logs),
       'evidence', (SELECT count(*) FROM evidence))::text AS s`,
  );
  return rows[0]!.s;
}

async function probe(method: string, path: string, body?: BodyInit): Promise<void> {
  try {
    new Request(`http://localhost${path}`);
  } catch {
    return; // not a URL at all
  }
  const res = await app.request(path, { method, body });
  const text = await res.text();
  counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
  const what = `${method} ${path.slice(0, 120)} → ${res.status} ${text.slice(0, 160)}`;
  if (res.status >= 500) problems.push(`5xx: ${what}`);
  const after = await state();
  if (res.status !== 200 && after !== baseline)
    problems.push(`state changed by a rejected request: ${what}: ${baseline} → ${after}`);
  baseline = after;
}

const check = () => {
  const found = problems.splice(0);
  expect(found.slice(0, 10), `statuses ${JSON.stringify([...counts])}`).toEqual([]);
};

/** A valid add-checkpoint body's lines, one of them replaced, dropped or doubled. */
const addBody = fc
  .record({
    old: fc.oneof(fc.constantFrom(0, 5, 8, 9, 300), fc.nat()),
    size: fc.constantFrom(5, 8, 9, 12),
    line: fc.nat({ max: 12 }),
    edit: fc.constantFrom("replace", "drop", "double", "none"),
    junk: fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        "",
        "old",
        "old -1",
        "old 1e3",
        base64Encode(rfc6962.emptyRoot()),
        "— fuzz.example/log AAAA",
        "fuzz.example/log",
      ),
    ),
  })
  .map(({ old, size, line, edit, junk }) => {
    const proof = proofs.get(`${old}/${size}`) ?? [];
    const lines = formatAddCheckpoint({ old, proof, checkpoint: log.checkpoint(size) }).split("\n");
    const i = line % lines.length;
    if (edit === "replace") lines[i] = junk;
    if (edit === "drop") lines.splice(i, 1);
    if (edit === "double") lines.splice(i, 0, lines[i]!);
    return lines.join("\n");
  });

// Bounded: each property has a fixed number of runs, and each test a minute at most.
describe("witness HTTP fuzzing: no 5xx, no state change from a rejected request", {
  timeout: 60_000,
}, () => {
  beforeAll(async () => {
    db = await openTestDb(WITNESS_MIGRATIONS);
    for (const old of [5, 8, 9])
      for (const size of [5, 8, 9, 12])
        if (old <= size) proofs.set(`${old}/${size}`, await log.proof(old, size));
    app = witnessApp(witnessOf(db.sql, log, W), () => {});
    // Cosign size 8 first, so that there is a state a request could wrongly move.
    const res = await app.request("/add-checkpoint", {
      method: "POST",
      body: formatAddCheckpoint({ old: 0, proof: [], checkpoint: log.checkpoint(8) }),
    });
    expect(res.status).toBe(200);
    baseline = await state();
  });
  afterAll(() => db?.close());

  it("POST /add-checkpoint with edited, random and binary bodies", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          addBody,
          fc.string({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }),
          fc.constant("x".repeat(17 * 1024)),
        ),
        async (body) => {
          await probe("POST", "/add-checkpoint", body as BodyInit);
        },
      ),
      { numRuns: RUNS * 2 },
    );
    check();
    // The generator reaches both sides: bodies rejected for each reason, and valid ones.
    expect(counts.get(400) ?? 0).toBeGreaterThan(0);
    expect((counts.get(200) ?? 0) + (counts.get(409) ?? 0)).toBeGreaterThan(0);
  });

  it("GET and other methods on every path", async () => {
    const path = fc.oneof(
      fc.constantFrom(
        `/${originHash(log.origin)}/checkpoint`,
        "/v1/evidence",
        "/healthz",
        "/add-checkpoint",
        "/",
        `/${originHash("other.example/log")}/checkpoint`,
      ),
      fc
        .array(fc.string({ maxLength: 10 }).map(encodeURIComponent), { maxLength: 4 })
        .map((p) => `/${p.join("/")}`),
      fc.string({ maxLength: 70 }).map((h) => `/${encodeURIComponent(h)}/checkpoint`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"),
        path,
        fc.option(fc.string({ maxLength: 50 }), { nil: undefined }),
        async (method, p, body) => {
          await probe(method, p, method === "GET" || method === "HEAD" ? undefined : body);
        },
      ),
      { numRuns: RUNS * 2 },
    );
    check();
  });
});
