// Session bundle v3 (docs/design.md §2.10.1): GET /v1/sessions/:id/export?format=v3 streams the
// checkpoint once and one multi-leaf proof per list; it verifies like v2 and proves the same
// events; a time window holds exactly the events of its window; altered gap hashes, leaves, indexes
// or dropped events fail; erasures come with their own proof; bad parameters are a 400.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  AnySessionBundle,
  SessionBundle,
  SessionBundleV3,
} from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { makeSubmission } from "../support/events.ts";
import { exportBundle, interleavedSessionLog, minuteAt } from "../support/interleaved-session.ts";
import { TEST_KEY, type TestLog } from "../support/log.ts";

const S1 = sessionId("web-1", "default@1764050000", "$1");
const S2 = sessionId("web-1", "default@1764050000", "$2");
const trust = { logKeys: [TEST_KEY.verifierKey] };
const at = minuteAt;

let log: TestLog;
beforeAll(async () => {
  log = await interleavedSessionLog(60);
}, 60_000);
afterAll(() => log?.close());

const exportOf = (id: string, query = "format=v3") => exportBundle(log, id, query);

describe("bundle v3", () => {
  it("verifies, proves the events v2 proves, plays the same casts, and is smaller", async () => {
    const v3 = (await exportOf(S1)) as SessionBundleV3;
    const v2 = (await exportOf(S1, "format=v2")) as SessionBundle;
    expect(v3.format).toBe("tmuxtrail-session-bundle/v3");
    expect(v3.casts).toBeUndefined();
    const r3 = verifySessionBundle(v3, trust);
    expect(r3.failures).toEqual([]);
    expect(r3.ok).toBe(true);
    expect(r3.verified).toBe(60);
    const r2 = verifySessionBundle(v2, trust);
    expect(r2.ok).toBe(true);
    expect(v3.events.map((e) => [e.index, e.leaf])).toEqual(
      v2.events.map((e) => [e.index, e.leaf]),
    );
    expect(r3.recordings).toEqual(v2.casts);
    expect(v3.last).toBe(v2.last);
    // Interleaved with $2, every event of $1 has a one-hash gap, yet far fewer than v2's paths.
    const hashes = v3.events.reduce((n, e) => n + e.gap.length, v3.end.events.length);
    const perEvent = v2.events.reduce((n, e) => n + e.proof.split("\n").length, 0);
    expect(hashes).toBeLessThan(perEvent / 3);
    expect(JSON.stringify(v3).length).toBeLessThan(JSON.stringify(v2).length / 2);
  });

  it("with casts=1 carries the casts, checked against the events", async () => {
    const v3 = (await exportOf(S1, "format=v3&casts=1")) as SessionBundleV3;
    const r = verifySessionBundle(v3, trust);
    expect(r.ok).toBe(true);
    expect(r.casts.sort()).toEqual(["%3", "%4"]);
    const altered = { ...v3, casts: { ...v3.casts, "%3": `${v3.casts!["%3"]}[1, "o", "x"]\n` } };
    expect(verifySessionBundle(altered, trust).ok).toBe(false);
  });

  it("a window holds exactly its events; consecutive windows meet per pane", async () => {
    const a = (await exportOf(S1, `format=v3&until=${at(20)}`)) as SessionBundleV3;
    const b = (await exportOf(S1, `format=v3&since=${at(20)}&until=${at(41)}`)) as SessionBundleV3;
    const c = (await exportOf(S1, `format=v3&since=${at(41)}`)) as SessionBundleV3;
    const reports = [a, b, c].map((x) => verifySessionBundle(x, trust));
    for (const r of reports) expect(r.failures).toEqual([]);
    expect([a, b, c].map((x) => x.events.length)).toEqual([20, 21, 19]);
    expect(b.window).toEqual({ since: at(20), until: at(41) });
    // Per pane, each window starts where the previous ended.
    for (const pane of ["%3", "%4"]) {
      const s = reports.map((r) => r.streams.find((x) => x.pane === pane)!);
      expect(s[0]!.firstSeq).toBe(0);
      expect(s[1]!.firstSeq).toBe(s[0]!.lastSeq + 1);
      expect(s[2]!.firstSeq).toBe(s[1]!.lastSeq + 1);
    }
    // An event moved in from outside the window fails, even with a valid proof of its own place.
    const whole = (await exportOf(S1)) as SessionBundleV3;
    const lying = { ...b, window: { since: at(21), until: at(41) } };
    const r = verifySessionBundle(lying, trust);
    expect(r.ok).toBe(false);
    expect(r.failures[0]!.message).toMatch(/outside the bundle's window/);
    expect(whole.events.length).toBe(60);
  });

  it("a quiet window verifies with no events; a whole session with none does not", async () => {
    const quiet = (await exportOf(
      S1,
      `format=v3&since=${new Date(Date.UTC(2026, 10, 25)).toISOString()}`,
    )) as SessionBundleV3;
    expect(quiet.events).toEqual([]);
    const r = verifySessionBundle(quiet, trust);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.events).toBe(0);
    const { window: _, ...unwindowed } = quiet;
    expect(verifySessionBundle(unwindowed, trust).failures[0]!.message).toMatch(/holds no events/);
  });

  it("an altered gap hash, leaf or index, or a dropped event, fails", async () => {
    const v3 = (await exportOf(S1)) as SessionBundleV3;
    const withEvents = (events: SessionBundleV3["events"]) => ({ ...v3, events });
    const flipB64 = (h: string) => (h[0] === "A" ? `B${h.slice(1)}` : `A${h.slice(1)}`);
    const j = v3.events.findIndex((e) => e.gap.length > 0);
    const cases: Record<string, AnySessionBundle> = {
      gap: withEvents(
        v3.events.map((e, k) =>
          k === j ? { ...e, gap: [flipB64(e.gap[0]!), ...e.gap.slice(1)] } : e,
        ),
      ),
      end: {
        ...v3,
        end: { ...v3.end, events: [flipB64(v3.end.events[0]!), ...v3.end.events.slice(1)] },
      },
      leaf: withEvents(
        v3.events.map((e, k) =>
          k === 3 ? { ...e, leaf: e.leaf.replace('"seq":1', '"seq":7') } : e,
        ),
      ),
      index: withEvents(v3.events.map((e, k) => (k === 3 ? { ...e, index: e.index + 1 } : e))),
      dropped: withEvents(v3.events.filter((_, k) => k !== 10)),
      movedHash: withEvents(
        v3.events.map((e, k) =>
          k === j
            ? { ...e, gap: e.gap.slice(1) }
            : k === j + 1
              ? { ...e, gap: [e.gap[0]!, ...e.gap] }
              : e,
        ),
      ),
    };
    for (const [what, b] of Object.entries(cases)) {
      const r = verifySessionBundle(b, trust);
      expect(r.ok, what).toBe(false);
    }
    expect(verifySessionBundle(cases.gap!, trust).failures[0]!.message).toMatch(
      /multi-leaf inclusion proof does not lead to the checkpoint's root/,
    );
  });

  it("an erased session's bundle carries its erasure events with their own proof", async () => {
    const res = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session: S2, reason: "test" }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const v3 = (await exportOf(S2)) as SessionBundleV3;
    expect(v3.erasures.length).toBe(1);
    const r = verifySessionBundle(v3, trust);
    expect(r.failures).toEqual([]);
    expect(r.erased.length).toBe(60);
    const forged = { ...v3, erasures: v3.erasures.map((e) => ({ ...e, index: e.index + 1 })) };
    expect(verifySessionBundle(forged, trust).ok).toBe(false);
  });

  it("size proves against that stored checkpoint, so windows read apart are of one tree", async () => {
    const first = (await exportOf(S1, `format=v3&until=${at(20)}`)) as SessionBundleV3;
    const size = verifySessionBundle(first, trust).checkpoint!.size;
    // The log grows meanwhile; the next window asks for the first one's checkpoint.
    const grow = await log.req("/v1/events?wait=checkpoint", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([makeSubmission({ session: "$3", pane: "%77", seq: 0 })]),
    });
    expect(grow.status).toBe(200);
    const next = (await exportOf(S1, `format=v3&since=${at(20)}&size=${size}`)) as SessionBundleV3;
    const r = verifySessionBundle(next, trust);
    expect(r.ok).toBe(true);
    expect(r.checkpoint).toEqual(verifySessionBundle(first, trust).checkpoint);
    expect((await log.req(`/v1/sessions/${S1}/export?format=v3&size=99999`)).status).toBe(404);
  });

  it("refuses bad parameters with a 400", async () => {
    for (const q of [
      "format=v4",
      "format=v3&since=yesterday",
      `format=v3&since=${at(5)}&until=${at(5)}`,
      `format=v2&since=${at(5)}`,
      "format=v3&casts=yes",
      "format=v2&size=3",
    ]) {
      const res = await log.req(`/v1/sessions/${S1}/export?${q}`);
      expect(res.status, q).toBe(400);
    }
  });
});
