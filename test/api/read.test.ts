import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle } from "../../src/core/bundle.ts";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { treeRoot } from "../../src/core/proof.ts";
import { verifyConsistency, verifyInclusion } from "../../src/core/proof-verify.ts";
import { tileNodeReader } from "../../src/core/tile-reader.ts";
import { makeBatch } from "../support/events.ts";
import { openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";

let log: TestLog;
const N = 600; // more than two full level-0 tiles
beforeAll(async () => {
  log = await openTestLog();
  for (let i = 0; i < N; i += 200) {
    const res = await log.req("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(makeBatch(200, i, { pane: "%read" })),
    });
    expect(res.status).toBe(200);
  }
  await log.ctx.publisher.waitFor(N, 10_000);
});
afterAll(() => log.close());

const verifier = () => parseVerifierKey(TEST_KEY.verifierKey);

async function checkpoint() {
  const res = await log.req("/checkpoint", { token: null });
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toMatch(/^text\/plain/);
  return openCheckpoint(await res.text(), [verifier()]).checkpoint;
}

describe("read API", () => {
  it("GET /checkpoint serves a checkpoint signed by the log key covering every leaf", async () => {
    const cp = await checkpoint();
    expect(cp.size).toBeGreaterThanOrEqual(N);
  });

  it("hash tiles rebuild the checkpoint's root, full tiles are immutable", async () => {
    const cp = await checkpoint();
    const fetched: string[] = [];
    const read = tileNodeReader(cp.size, async (level, index, width) => {
      const path = `/tile/${level}/${String(index).padStart(3, "0")}${width < 256 ? `.p/${width}` : ""}`;
      fetched.push(path);
      const res = await log.req(path, { token: null });
      expect(res.status).toBe(200);
      if (width === 256) expect(res.headers.get("Cache-Control")).toContain("immutable");
      return new Uint8Array(await res.arrayBuffer());
    });
    expect(await treeRoot(cp.size, read, rfc6962)).toEqual(cp.root);
    expect(fetched.length).toBeGreaterThan(0);
  });

  it("entry bundles need a read key and hold the leaves whose hashes are in the tiles", async () => {
    expect((await log.req("/tile/entries/000", { token: null })).status).toBe(401);
    const res = await log.req("/tile/entries/000");
    expect(res.status).toBe(200);
    expect(res.headers.get("Vary")).toBe("Authorization");
    const leaves = decodeBundle(new Uint8Array(await res.arrayBuffer()), 256);
    const tile = new Uint8Array(
      await (await log.req("/tile/0/000", { token: null })).arrayBuffer(),
    );
    leaves.forEach((leaf, i) => {
      expect(rfc6962.leaf(leaf)).toEqual(tile.subarray(i * 32, i * 32 + 32));
    });
  });

  it("inclusion proofs by index and by hash verify against the checkpoint", async () => {
    const cp = await checkpoint();
    for (const index of [0, 1, 255, 256, N - 1]) {
      const entry = (await (await log.req(`/v1/entries/${index}`)).json()) as {
        leafHash: string;
        leaf: string;
      };
      const res = await log.req(`/v1/proof/inclusion?index=${index}&size=${cp.size}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { proof: string[] };
      const leafHash = base64Decode(entry.leafHash, "hash", 32);
      expect(rfc6962.leaf(base64Decode(entry.leaf))).toEqual(leafHash);
      verifyInclusion(
        index,
        cp.size,
        leafHash,
        body.proof.map((p) => base64Decode(p)),
        cp.root,
      );
      const byHash = await log.req(
        `/v1/proof/inclusion?hash=${encodeURIComponent(entry.leafHash)}&size=${cp.size}`,
      );
      expect(((await byHash.json()) as { index: number }).index).toBe(index);
    }
  });

  it("consistency proofs verify between published sizes", async () => {
    const cp = await checkpoint();
    // Up to the checkpoint read (earlier content reads add access events, so a newer one may be
    // published meanwhile: a proof to a smaller size is refused, 400).
    const rows = await log.db.sql.query<{ size: number; root: Uint8Array }>(
      "SELECT size, root FROM checkpoints WHERE size > 0 AND size <= $1 ORDER BY size",
      [cp.size],
    );
    for (const old of rows) {
      const res = await log.req(`/v1/proof/consistency?from=${old.size}&to=${cp.size}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { proof: string[] };
      if (old.size < cp.size) {
        verifyConsistency(
          old.size,
          cp.size,
          body.proof.map((p) => base64Decode(p)),
          old.root,
          cp.root,
        );
      }
    }
  });

  it("GET /v1/entries/:index returns the event, its payload and a proof to the newest checkpoint", async () => {
    const res = await log.req("/v1/entries/3");
    const e = (await res.json()) as {
      event: { seq: number; pane: string };
      payload: { content: string } | null;
      proof: string[];
      erased: boolean;
    };
    expect(e.event).toMatchObject({ seq: 3, pane: "%read" });
    expect(Buffer.from(e.payload!.content, "base64").toString()).toBe("line 3\r\n");
    expect(e.erased).toBe(false);
    expect(e.proof.length).toBeGreaterThan(0);
  });

  it("sessions are listed and their events returned in tree order", async () => {
    const list = (await (await log.req("/v1/sessions?host=web-1")).json()) as {
      id: string;
      events: number;
    }[];
    expect(list.length).toBe(1);
    const res = await log.req(`/v1/sessions/${list[0]!.id}/events?limit=10`);
    const body = (await res.json()) as { events: { index: number }[] };
    expect(body.events.map((e) => e.index)).toEqual([...Array(10).keys()]);
  });

  describe("bad reads get a 4xx JSON error", () => {
    const cases: [string, number][] = [
      ["/tile/0/0", 400],
      ["/tile/0/000.p/0", 400],
      ["/tile/64/000", 400],
      ["/tile/0/x999/000", 404],
      ["/tile/entries/x999/000", 404],
      ["/v1/proof/inclusion?index=0&size=0", 400],
      ["/v1/proof/inclusion?index=5&size=5", 400],
      ["/v1/proof/inclusion?index=0&size=99999999", 400],
      ["/v1/proof/inclusion?index=-1&size=5", 400],
      ["/v1/proof/inclusion?size=5", 400],
      ["/v1/proof/inclusion?hash=AAAA&size=5", 400],
      ["/v1/proof/consistency?from=0&to=5", 400],
      ["/v1/proof/consistency?from=6&to=5", 400],
      ["/v1/entries/99999999", 404],
      ["/v1/entries/abc", 400],
      ["/v1/sessions/nope/events", 400],
      ["/v1/sessions?since=yesterday", 400],
      ["/no/such/route", 404],
    ];
    for (const [path, status] of cases) {
      it(`${path} → ${status}`, async () => {
        const res = await log.req(path);
        expect(res.status).toBe(status);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.message.length).toBeGreaterThan(0);
      });
    }
  });

  it("/healthz, /metrics and /openapi.json answer", async () => {
    const h = (await (await log.req("/healthz", { token: null })).json()) as {
      ok: boolean;
      treeSize: number;
    };
    expect(h).toMatchObject({ ok: true });
    expect(h.treeSize).toBeGreaterThanOrEqual(N);
    const m = await (await log.req("/metrics")).text();
    expect(m).toContain("tmuxtrail_leaves_total");
    expect(m).toContain("tmuxtrail_integration_seconds_bucket");
    const rss = Number(/^tmuxtrail_process_memory_bytes\{kind="rss"\} (\d+)$/m.exec(m)?.[1]);
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(m).toMatch(/^tmuxtrail_process_memory_bytes\{kind="heap_used"\} \d+$/m);
    const o = (await (await log.req("/openapi.json", { token: null })).json()) as {
      openapi: string;
      paths: object;
    };
    expect(o.openapi).toMatch(/^3\./);
    expect(Object.keys(o.paths)).toContain("/v1/events");
  });
});
