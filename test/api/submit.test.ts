import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBatch, makeSubmission } from "../support/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";
import { storedCounts } from "../support/stored.ts";

let log: TestLog;
beforeAll(async () => {
  log = await openTestLog();
});
afterAll(() => log.close());

const post = (body: unknown, token?: string | null, query = "") =>
  log.req(`/v1/events${query}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: (typeof body === "string" || body instanceof Uint8Array
      ? body
      : JSON.stringify(body)) as BodyInit,
    token,
  });

async function treeSize(): Promise<number> {
  const [row] = await log.db.sql.query<{ size: number }>("SELECT size FROM log_state WHERE id = 1");
  return row!.size;
}

/** Leaves, batches, their slots, the slots holding a payload, command contents. */
async function counts() {
  const [r] = await log.db.sql.query<{ l: number }>("SELECT count(*)::int8 l FROM leaves");
  return { l: r!.l, ...(await storedCounts(log.db.sql)) };
}

/** What the tree and its stored contents hold: a retry's staged batch (scrubbed) aside. */
async function held() {
  const { l, payloads, commands } = await counts();
  return { l, payloads, commands };
}

async function submitKey(host: string) {
  const res = await log.req("/v1/keys", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: `agent ${host}`, scopes: ["submit"], host }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe("POST /v1/events", () => {
  it("sequences a batch after commit and answers index, leaf hash, duplicate in request order", async () => {
    const before = await treeSize();
    const batch = makeBatch(5, 0, { pane: "%order" });
    const res = await post(batch);
    expect(res.status).toBe(200);
    const out = (await res.json()) as { index: number; leafHash: string; duplicate: boolean }[];
    expect(out.map((r) => r.index)).toEqual([0, 1, 2, 3, 4].map((i) => before + i));
    expect(out.every((r) => !r.duplicate && /^[A-Za-z0-9+/]{43}=$/.test(r.leafHash))).toBe(true);
    expect(await treeSize()).toBe(before + 5);
  });

  it("an identical resubmission returns the original indexes with duplicate: true and stores nothing more", async () => {
    const batch = makeBatch(3, 0, { pane: "%dup" });
    const first = (await (await post(batch)).json()) as { index: number }[];
    const c0 = await held();
    const res = await post(batch);
    expect(res.status).toBe(200);
    const again = (await res.json()) as { index: number; duplicate: boolean }[];
    expect(again.map((r) => r.index)).toEqual(first.map((r) => r.index));
    expect(again.every((r) => r.duplicate)).toBe(true);
    expect(await held()).toEqual(c0);
  });

  it("the same event twice in one request gets one index", async () => {
    const e = makeSubmission({ seq: 0, pane: "%twice" });
    const out = (await (await post([e, e])).json()) as { index: number; duplicate: boolean }[];
    expect(out[0]!.index).toBe(out[1]!.index);
  });

  it("a different event for a filled stream position is a 409 naming the position, and the whole batch writes nothing", async () => {
    await post(makeBatch(2, 0, { pane: "%conflict" }));
    const c0 = await counts();
    const size0 = await treeSize();
    const batch = [
      makeSubmission({ seq: 2, pane: "%conflict" }),
      makeSubmission({ seq: 1, pane: "%conflict", content: "something else" }),
    ];
    const res = await post(batch);
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; position: number } };
    expect(body.error.code).toBe("conflict");
    expect(body.error.position).toBe(1);
    expect(await treeSize()).toBe(size0);
    const c1 = await counts();
    expect(c1.l).toBe(c0.l);
    const conflicts = await log.db.sql.query("SELECT * FROM conflicts WHERE pane = '%conflict'");
    expect(conflicts.length).toBe(1);
  });

  it("concurrent submissions: identical events share one index; different events for one new position: one wins, the rest get 409", async () => {
    const same = makeBatch(2, 0, { pane: "%race-same" });
    const outs = await Promise.all(Array.from({ length: 6 }, () => post(same)));
    const bodies = (await Promise.all(outs.map((r) => r.json()))) as { index: number }[][];
    expect(new Set(bodies.map((b) => b[0]!.index)).size).toBe(1);
    const rivals = Array.from({ length: 6 }, (_, i) => [
      makeSubmission({ seq: 0, pane: "%race-pos", content: `rival ${i}` }),
    ]);
    const statuses = (await Promise.all(rivals.map((b) => post(b)))).map((r) => r.status);
    expect(statuses.filter((x) => x === 200).length).toBe(1);
    expect(statuses.filter((x) => x === 409).length).toBe(5);
    const rows = await log.db.sql.query("SELECT idx FROM leaves WHERE pane = '%race-pos'");
    expect(rows.length).toBe(1);
  });

  it("a submit key is bound to its host: events for another host get 403 and change nothing", async () => {
    const token = await submitKey("web-2");
    const ok = await post(makeBatch(1, 0, { host: "web-2" }), token);
    expect(ok.status).toBe(200);
    const size0 = await treeSize();
    const res = await post(makeBatch(1, 0, { host: "web-3" }), token);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("wrong-host");
    expect(await treeSize()).toBe(size0);
  });

  it("a read-only key gets 403; no, unknown or revoked tokens get 401", async () => {
    const res = await log.req("/v1/keys", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "reader", scopes: ["read"] }),
    });
    const reader = (await res.json()) as { id: string; token: string };
    expect((await post(makeBatch(1, 0, { pane: "%r" }), reader.token)).status).toBe(403);
    expect((await post(makeBatch(1, 0, { pane: "%r" }), null)).status).toBe(401);
    expect((await post(makeBatch(1, 0, { pane: "%r" }), "tt_nope")).status).toBe(401);
    const submitter = await submitKey("web-9");
    const list = (await (await log.req("/v1/keys")).json()) as { id: string; host: string }[];
    const id = list.find((k) => k.host === "web-9")!.id;
    expect((await log.req(`/v1/keys/${id}`, { method: "DELETE" })).status).toBe(200);
    expect((await post(makeBatch(1, 0, { host: "web-9" }), submitter)).status).toBe(401);
  });

  describe("bad input gets the right 4xx with a JSON error and writes nothing", () => {
    const good = () => makeSubmission({ seq: 0, pane: "%bad" });
    const cases: [string, () => unknown, number][] = [
      ["malformed JSON", () => "[{", 400],
      ["not an array", () => ({ events: [] }), 400],
      ["an empty array", () => [], 400],
      ["a wrong type", () => [{ ...good(), seq: "1" }], 400],
      ["a negative seq", () => [{ ...good(), seq: -1 }], 400],
      ["an unknown field", () => [{ ...good(), extra: 1 }], 400],
      ["a missing field", () => [{ ...good(), host: undefined }], 400],
      ["a bad time", () => [{ ...good(), time: "yesterday" }], 400],
      ["a bad salt", () => [{ ...good(), salt: "AAAA" }], 400],
      [
        "a commitment that does not match the content",
        () => [{ ...good(), content: "tampered" }],
        422,
      ],
      ["more than 1000 events", () => makeBatch(1001, 0, { pane: "%many" }), 413],
    ];
    for (const [name, body, status] of cases) {
      it(name, async () => {
        const c0 = await counts();
        const res = await post(body());
        expect(res.status).toBe(status);
        const json = (await res.json()) as { error: { code: string; message: string } };
        expect(typeof json.error.code).toBe("string");
        expect(json.error.message.length).toBeGreaterThan(0);
        expect(await counts()).toEqual(c0);
      });
    }

    it("invalid UTF-8", async () => {
      const c0 = await counts();
      const res = await post(new Uint8Array([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]));
      expect(res.status).toBe(400);
      expect(await counts()).toEqual(c0);
    });

    it("a body over 4 MiB", async () => {
      const c0 = await counts();
      const big = JSON.stringify([{ junk: "x".repeat(4 * 1024 * 1024 + 10) }]);
      const res = await post(big);
      expect(res.status).toBe(413);
      expect(await counts()).toEqual(c0);
    });

    it("a wrong content type", async () => {
      const res = await log.req("/v1/events", {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify([good()]),
      });
      expect(res.status).toBe(415);
    });
  });
});

describe("POST /v1/leaves", () => {
  it("sequences one opaque leaf, the empty leaf included, and dedups by leaf hash", async () => {
    const send = (b: Uint8Array) =>
      log.req("/v1/leaves", {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: b as BodyInit,
      });
    const a = (await (await send(new Uint8Array([1, 2, 3]))).json()) as {
      index: number;
      duplicate: boolean;
    };
    const e = (await (await send(new Uint8Array(0))).json()) as {
      index: number;
      duplicate: boolean;
    };
    expect(e.index).toBeGreaterThan(a.index);
    const again = (await (await send(new Uint8Array([1, 2, 3]))).json()) as {
      index: number;
      duplicate: boolean;
    };
    expect(again).toMatchObject({ index: a.index, duplicate: true });
  });

  it("refuses a leaf over 65535 bytes with 413", async () => {
    const res = await log.req("/v1/leaves", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: new Uint8Array(65536),
    });
    expect(res.status).toBe(413);
  });

  it("?wait=checkpoint answers once a signed checkpoint covers the leaf", async () => {
    const res = await log.req("/v1/leaves?wait=checkpoint", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: new Uint8Array([42, 42]),
    });
    const { index } = (await res.json()) as { index: number };
    const cp = await (await log.req("/checkpoint", { token: null })).text();
    expect(Number(cp.split("\n")[1])).toBeGreaterThan(index);
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After past the per-key limit", async () => {
    const limited = await openTestLog({ rateLimit: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.req("/v1/keys")).status);
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      const res = await limited.req("/v1/keys");
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
