// The per-event facts found on helper threads (lib/bundle-facts-pool.ts) are the facts found on
// one thread, event for event, for valid and broken events alike; so the report is the same; a
// helper that is gone leaves its share to the caller's thread. Runs the helpers from the sources
// (tsx); the built CLI's helpers are run by the bench's verify-bundle rows.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64Encode } from "../../src/core/encoding.ts";
import {
  type AnySessionBundle,
  parseSessionBundle,
  type SessionBundleV3,
} from "../../src/core/session-bundle.ts";
import { bundleFacts, verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { FactsPool } from "../../src/lib/bundle-facts-pool.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { exportBundle, interleavedSessionLog } from "../support/interleaved-session.ts";
import { TEST_KEY, type TestLog } from "../support/log.ts";

const S1 = sessionId("web-1", "default@1764050000", "$1");
const trust = { logKeys: [TEST_KEY.verifierKey] };

let log: TestLog;
let bundle: SessionBundleV3;
let pool: FactsPool;
beforeAll(async () => {
  pool = FactsPool.start(1);
  log = await interleavedSessionLog(40);
  bundle = (await exportBundle(log, S1, "format=v3")) as SessionBundleV3;
}, 60_000);
afterAll(async () => {
  await pool?.close();
  await log?.close();
});

/** Every kind of event a hostile bundle may hold, many times over (the helpers get most). */
function brokenBundle(): AnySessionBundle {
  const events = bundle.events.flatMap((ev, i) => {
    const p = ev.payload!;
    const content = Buffer.from(p.content, "base64");
    return [
      ev,
      { ...ev, leaf: ev.leaf.replace('"seq":', '"seq": ') }, // not canonical
      { ...ev, leaf: "{" }, // not JSON
      { ...ev, leaf: ev.leaf.replace('"v":1', '"v":2') }, // not the schema
      { ...ev, payload: { ...p, content: base64Encode(Buffer.concat([content, Buffer.of(i)])) } },
      { ...ev, payload: { ...p, salt: base64Encode(new Uint8Array(32)) } },
      { ...ev, payload: { ...p, content: "!!!!" } },
      { ...ev, payload: null },
    ];
  });
  return { ...bundle, events };
}

describe("FactsPool", () => {
  it("finds on its helper the facts one thread finds, for valid and broken events", async () => {
    const b = brokenBundle();
    expect(b.events.length).toBe(320);
    const one = bundleFacts(b, nodeHasher);
    const many = await pool.facts(b, nodeHasher, 1);
    expect(pool.helped).toBeGreaterThan(120); // about half: the helper did its own share

    expect(many.events.length).toBe(one.events.length);
    // Buffers and Uint8Array views compare as bytes.
    const plain = (fs: typeof one.events) =>
      fs.map((f) => ({
        ...f,
        leafHash: [...f.leafHash],
        content: f.content && [...f.content],
      }));
    expect(plain(many.events)).toEqual(plain(one.events));
    expect(one.events.filter((f) => f.leafWhy).length).toBe(120);
    expect(one.events.filter((f) => f.contentWhy).length).toBe(120);
  });

  it("gives the report one thread gives", async () => {
    for (const b of [bundle, brokenBundle()]) {
      const alone = verifySessionBundle(b, trust, nodeHasher);
      const shared = await pool.verify(b, trust, nodeHasher, 1);
      expect(shared).toEqual(alone);
    }
    expect((await pool.verify(bundle, trust, nodeHasher, 1)).ok).toBe(true);
  });

  it("verifies a document's bytes shared with the helper as verifySessionBundle does", async () => {
    const parse = (bytes: Buffer) => parseSessionBundle(JSON.parse(bytes.toString("utf8")));
    for (const b of [bundle, brokenBundle()]) {
      const bytes = new TextEncoder().encode(JSON.stringify(b));
      const before = pool.helped;
      const shared = await pool.verifyDocument(bytes, parse, trust, nodeHasher, 1);
      expect(pool.helped).toBeGreaterThan(before + b.events.length / 3);
      expect(shared.report).toEqual(verifySessionBundle(b, trust, nodeHasher));
      expect(shared.bundle).toEqual(b);
    }
  });

  it("a document that does not parse is the caller's error; the helper's failure is harmless", async () => {
    const bytes = new TextEncoder().encode(`{"events": [${"1,".repeat(200)}1]`);
    const parse = (bytes: Buffer) => parseSessionBundle(JSON.parse(bytes.toString("utf8")));
    await expect(pool.verifyDocument(bytes, parse, trust, nodeHasher, 1)).rejects.toThrow(/JSON/);
    const notBundle = new TextEncoder().encode(`{"events": [${"1,".repeat(200)}1]}`);
    await expect(pool.verifyDocument(notBundle, parse, trust, nodeHasher, 1)).rejects.toThrow();
    // The helper is still there for the next bundle.
    const before = pool.helped;
    const bytesOk = new TextEncoder().encode(JSON.stringify(bundle));
    const { report } = await pool.verifyDocument(bytesOk, parse, trust, nodeHasher, 1);
    expect(report.ok).toBe(true);
    expect(pool.helped).toBeGreaterThan(before);
  });

  it("does a helper's share itself when the helper is gone", async () => {
    const gone = FactsPool.start(2);
    await gone.close();
    const report = await gone.verify(bundle, trust, nodeHasher, 1);
    expect(gone.helped).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.verified).toBe(40);
  });
});
