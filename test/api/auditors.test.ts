// The auditor-facing API: reads of content are recorded as access events (gap-free, before the
// content is served), erasures delete payloads only and are recorded, session bundles verify
// offline and any edit to one is caught and named, and denied requests are counted and alerted.

import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { cosign } from "../../src/core/cosignature.ts";
import { base64Decode, utf8Encode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { splitNote } from "../../src/core/note.ts";
import { verifyInclusion } from "../../src/core/proof-verify.ts";
import { parseSessionBundle, type SessionBundle } from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import { makeBatch, makeSubmission } from "../support/events.ts";
import { ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { until } from "../support/wait.ts";

let log: TestLog | undefined;
afterEach(async () => {
  await log?.close();
  log = undefined;
});

const SESSION = sessionId("web-1", "default@1764050000", "$1");

async function post(l: TestLog, events: unknown[]) {
  const res = await l.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(events),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { index: number }[];
}

/** A pane that opens, prints, runs a command and closes: seq 0..n+2 of stream %3. */
function paneEvents(n: number) {
  return [
    makeSubmission({ seq: 0, type: "pane-open" }),
    ...Array.from({ length: n }, (_, i) =>
      makeSubmission({ seq: i + 1, content: `out ${i} \u00e9\r\n` }),
    ),
    makeSubmission({
      seq: n + 1,
      type: "command",
      content: JSON.stringify({
        cwd: "/srv",
        end: "2026-11-24T19:00:01.000Z",
        exit: 0,
        line: "sudo systemctl restart nginx",
        start: "2026-11-24T19:00:00.500Z",
      }),
    }),
    makeSubmission({ seq: n + 2, type: "pane-close" }),
  ];
}

async function accessEvents(l: TestLog) {
  const rows = await l.db.sql.query<{ seq: number; batch: number; slot: number }>(
    `SELECT l.seq, l.batch, l.slot FROM leaves l
      WHERE l.host = $1 AND l.pane = 'access' ORDER BY l.seq`,
    [ORIGIN],
  );
  const leaves = await new BatchStore(l.db.sql).leaves(rows);
  return rows.map((r, i) => ({
    seq: Number(r.seq),
    event: JSON.parse(Buffer.from(leaves[i]!).toString()) as {
      type: string;
      user: string;
      access: { key: string; read: string };
    },
  }));
}

async function exportBundle(l: TestLog, id = SESSION): Promise<SessionBundle> {
  const n = Number(
    (await l.ctx.sql.query<{ size: number }>("SELECT size FROM log_state"))[0]!.size,
  );
  await l.ctx.publisher.waitFor(n, 10_000);
  const res = await l.req(`/v1/sessions/${id}/export`);
  expect(res.status, await res.clone().text()).toBe(200);
  return parseSessionBundle(await res.json()) as SessionBundle;
}

describe("access events", () => {
  it("records every content read before serving it, gap-free, with the key", async () => {
    log = await openTestLog();
    await post(log, makeBatch(3));
    const key = await log.ctx.auth.create("reader", ["read"], null);
    const res = await log.req("/v1/entries/1", { token: key.token });
    expect(res.status).toBe(200);
    let acc = await accessEvents(log);
    expect(acc).toHaveLength(1);
    expect(acc[0]!.event.type).toBe("access");
    expect(acc[0]!.event.access).toEqual({ key: key.id, read: "entry 1" });
    // Concurrent reads: one access event each, seq contiguous.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => log!.req(`/v1/entries/${i % 3}`, { token: key.token })),
    );
    expect((await log.req(`/v1/sessions/${SESSION}/events`)).status).toBe(200);
    acc = await accessEvents(log);
    expect(acc.map((a) => a.seq)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(acc.at(-1)!.event.access.read).toMatch(/^session .* events 0\.\.2$/);
    expect(acc.at(-1)!.event.access.key).toBe("admin");
  });

  it("does not record reads without content, and refuses content it cannot record", async () => {
    log = await openTestLog();
    const leaf = await log.req("/v1/leaves", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: "opaque",
    });
    expect(leaf.status).toBe(200);
    await post(log, makeBatch(1));
    expect((await log.req("/v1/entries/0")).status).toBe(200); // an opaque leaf: no content
    expect(await accessEvents(log)).toHaveLength(0);
    log.ctx.ownEvents.access = () => Promise.reject(new Error("database gone"));
    const res = await log.req("/v1/entries/1");
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(body).toContain("could not be recorded");
    expect(body).not.toContain("line 0");
  });

  it("refuses submitted events that only the log may write", async () => {
    log = await openTestLog();
    const forged = [
      {
        ...makeSubmission({ seq: 0, type: "pane-open" }),
        type: "access",
        access: { key: "x", read: "y" },
      },
      makeSubmission({ seq: 0, type: "pane-open", host: ORIGIN }),
    ];
    for (const ev of forged) {
      const res = await log.req("/v1/events", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify([ev]),
      });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("reserved");
    }
    // An event smuggled in as an opaque leaf would escape the stream and payload checks.
    const { content: _c, salt: _s, ...meta } = makeSubmission({ seq: 0 });
    const raw = await log.req("/v1/leaves", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: JSON.stringify(meta),
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe("bad-leaf");
    expect(
      Number((await log.db.sql.query<{ n: number }>("SELECT count(*) AS n FROM leaves"))[0]!.n),
    ).toBe(0);
  });
});

describe("erasure", () => {
  it("deletes payloads only, records who and why, and every proof still verifies", async () => {
    log = await openTestLog();
    await post(log, paneEvents(4));
    await post(log, makeBatch(2, 0, { session: "$9", pane: "%9" }));
    const admin = await log.ctx.auth.create("dpo", ["admin"], null);
    const res = await log.req("/v1/erasures", {
      method: "POST",
      token: admin.token,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session: SESSION, reason: "GDPR request 42" }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const out = (await res.json()) as { erased: number; events: number[] };
    expect(out.erased).toBe(5); // 4 outputs + 1 command
    expect(out.events).toEqual([9]);
    const erasure = (await (await log.req("/v1/entries/9")).json()) as {
      event: {
        type: string;
        user: string;
        erasure: { indexes: number[][]; key: string; reason: string };
      };
    };
    expect(erasure.event.type).toBe("erasure");
    expect(erasure.event.erasure).toEqual({
      indexes: [[1, 5]],
      key: admin.id,
      reason: "GDPR request 42",
    });
    // The other session keeps its content.
    expect(
      ((await (await log.req("/v1/entries/8")).json()) as { payload: unknown }).payload,
    ).not.toBeNull();
    await log.ctx.publisher.waitFor(10, 10_000);
    const entry = (await (await log.req("/v1/entries/2")).json()) as {
      leaf: string;
      payload: unknown;
      erased: boolean;
      proof: string[];
      size: number;
      checkpoint: string;
    };
    expect(entry.payload).toBeNull();
    expect(entry.erased).toBe(true);
    const root = base64Decode(entry.checkpoint.split("\n")[2]!);
    verifyInclusion(
      2,
      entry.size,
      rfc6962.leaf(base64Decode(entry.leaf)),
      entry.proof.map((p) => base64Decode(p)),
      root,
    );
    // A second erasure of the same session has nothing left to erase.
    const again = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session: SESSION, reason: "again" }),
    });
    expect(await again.json()).toEqual({ erased: 0, events: [] });
  });

  it("erases by time, and refuses bad requests without changing anything", async () => {
    log = await openTestLog();
    await post(log, [
      makeSubmission({ seq: 0, time: "2020-01-01T00:00:00.000Z" }),
      makeSubmission({ seq: 1, time: "2026-11-24T19:00:00.000Z" }),
    ]);
    const reader = await log.ctx.auth.create("r", ["read"], null);
    const bad: [unknown, number, string | null][] = [
      [{ reason: "x" }, 400, null],
      [{ session: SESSION, before: "2021-01-01", reason: "x" }, 400, null],
      [{ before: "2021-01-01" }, 400, null],
      [{ before: "2021-01-01", reason: "x", extra: 1 }, 400, null],
      [{ before: "yesterday", reason: "x" }, 400, null],
      [{ before: "2999-01-01", reason: "x" }, 400, null],
      [{ session: "AAAAAAAAAAAAAAAAAAAAAA", reason: "x" }, 404, null],
      [{ before: "2021-01-01", reason: "x" }, 403, reader.token],
    ];
    for (const [body, status, token] of bad) {
      const res = await log.req("/v1/erasures", {
        method: "POST",
        ...(token ? { token } : {}),
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBeTruthy();
    }
    // Payloads the batches of the tree still hold.
    const n = async () => {
      const refs = await log!.db.sql.query<{ batch: number; slot: number }>(
        "SELECT batch, slot FROM leaves",
      );
      const events = await new BatchStore(log!.db.sql).events(refs);
      return events.filter((e) => e.payload !== null).length;
    };
    expect(await n()).toBe(2);
    const res = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ before: "2021-01-01", reason: "retention 5y" }),
    });
    expect(await res.json()).toEqual({ erased: 1, events: [2] });
    expect(await n()).toBe(1);
  });
});

describe("session bundles", () => {
  it("exports a session that verifies offline, erasures included, and names every edit", async () => {
    log = await openTestLog();
    await post(log, paneEvents(3));
    await post(log, [makeSubmission({ seq: 6, type: "output", pane: "%3", content: "later\r\n" })]);
    const bundle = await exportBundle(log);
    expect(bundle.events.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Object.keys(bundle.casts)).toEqual(["%3"]);
    const cast = bundle.casts["%3"]!.trim().split("\n");
    expect(JSON.parse(cast[0]!)).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(
      cast
        .slice(1)
        .map((l) => JSON.parse(l)[2])
        .join(""),
    ).toBe("out 0 \u00e9\r\nout 1 \u00e9\r\nout 2 \u00e9\r\nlater\r\n");
    const trust = { logKeys: [TEST_KEY.verifierKey] };
    const ok = verifySessionBundle(bundle, trust);
    expect(ok.failures).toEqual([]);
    expect(ok.ok).toBe(true);
    expect(ok.trusted.source.log).toBe("given");
    // seq 6 follows the pane-close at seq 5 (late output): seq 0..6 are all there, and closed.
    expect(ok.streams).toEqual([
      { pane: "%3", events: 7, firstSeq: 0, lastSeq: 6, status: "complete" },
    ]);
    // The export itself was recorded.
    expect((await accessEvents(log)).map((a) => a.event.access.read)).toContain(
      `export of session ${SESSION}`,
    );

    const edit = (f: (b: SessionBundle) => void) => {
      const b = structuredClone(bundle);
      f(b);
      return verifySessionBundle(b, trust).failures.map((x) => x.message);
    };
    const content = (s: string) => Buffer.from(s).toString("base64");
    expect(edit((b) => (b.events[1]!.payload!.content = content("out 0 xx\r\n")))).toEqual([
      "event #1: content or salt does not match the leaf's commitment",
      // An event that does not verify does not count for its stream either.
      "stream %3: seq 1 is missing",
      expect.stringMatching(/^cast of pane %3 differs/),
    ]);
    expect(
      edit((b) => (b.events[2]!.leaf = b.events[2]!.leaf.replace('"seq":2', '"seq":7'))),
    ).toContainEqual(expect.stringMatching(/^event #2: proof-mismatch: /));
    expect(edit((b) => b.events.splice(2, 1))).toContain("stream %3: seq 2 is missing");
    expect(edit((b) => (b.casts["%3"] = b.casts["%3"]!.replace("out 1", "out 9")))).toEqual([
      "cast of pane %3 differs from its verified events at line 3",
    ]);
    expect(edit((b) => (b.checkpoint = b.checkpoint.replace(/\n\n/, "\nextra\n\n"))).at(0)).toMatch(
      /^checkpoint: /,
    );
    expect(edit((b) => (b.events[0]!.proof = b.events[3]!.proof))[0]).toBe(
      "event #0: its proof is for index 3",
    );
    // A key the verifier trusts, not the bundle's own.
    const other = generateKey(ORIGIN, new Uint8Array(32).fill(9));
    expect(
      verifySessionBundle(bundle, { logKeys: [other.verifierKey] }).failures[0]!.message,
    ).toMatch(/^checkpoint: unverified/);
    expect(parseVerifierKey(bundle.keys.log).name).toBe(ORIGIN);

    // Erase the session: the bundle now shows where content was, and still verifies.
    const res = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session: SESSION, reason: "retention" }),
    });
    const { events } = (await res.json()) as { events: number[] };
    const erased = await exportBundle(log);
    const r = verifySessionBundle(erased, trust);
    expect(r.failures).toEqual([]);
    expect(r.erased.map((e) => e.by)).toEqual([
      events[0],
      events[0],
      events[0],
      events[0],
      events[0],
    ]);
    expect(erased.casts["%3"]).toContain(`[content erased by event #${events[0]}]`);
    // Dropping the erasure event from the bundle leaves the missing content unexplained.
    const noErasure = structuredClone(erased);
    noErasure.erasures = [];
    expect(verifySessionBundle(noErasure, trust).failures[0]!.message).toBe(
      "event #1: content is missing and no erasure event names it",
    );
  });

  it("proves against the newest checkpoint that meets the witness quorum, not a newer one still waiting for its cosignatures", async () => {
    const w = generateKey("w.example/1", new Uint8Array(32).fill(44));
    log = await openTestLog({ witnessKeys: [w.cosignatureVerifierKey], witnessQuorum: 1 });
    const l = log;
    const newest = (atLeast: number) =>
      until(
        async () => {
          const [cp] = await l.db.sql.query<{ size: number; note: string }>(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
          );
          return cp && Number(cp.size) >= atLeast && { size: Number(cp.size), note: cp.note };
        },
        30_000,
        `a checkpoint of size ${atLeast}`,
      );
    const first = await post(log, paneEvents(2));
    const cosigned = await newest(first.at(-1)!.index + 1);
    // The witness cosigns that one (as the pool would store its answer) and no later one.
    const text = splitNote(cosigned.note).text;
    await log.db.sql.query(
      "INSERT INTO cosignatures (size, witness, line, time) VALUES ($1, $2, $3, $4)",
      [cosigned.size, w.cosignatureVerifierKey, cosign(text, parseSignerKey(w.signerKey), 1), 1],
    );
    const later = await post(log, makeBatch(3, 0, { session: "$9", pane: "%9" }));
    expect((await newest(later.at(-1)!.index + 1)).size).toBeGreaterThan(cosigned.size);

    const res = await log.req(`/v1/sessions/${SESSION}/export`);
    expect(res.status, await res.clone().text()).toBe(200);
    const bundle = parseSessionBundle(await res.json());
    expect(Number(bundle.checkpoint.split("\n")[1])).toBe(cosigned.size);
    const report = verifySessionBundle(bundle, {
      logKeys: [TEST_KEY.verifierKey],
      witnessKeys: [w.cosignatureVerifierKey],
      quorum: 1,
    });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("is refused until a checkpoint covers the session, and 404s unknown sessions", async () => {
    log = await openTestLog();
    expect((await log.req("/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/export")).status).toBe(404);
    expect((await log.req("/v1/sessions/bad/export")).status).toBe(400);
    const utf = utf8Encode("x");
    expect(utf.length).toBe(1);
  });

  it("finds sessions by a command they ran", async () => {
    log = await openTestLog();
    await post(log, paneEvents(1));
    await post(log, makeBatch(1, 0, { session: "$2", pane: "%5" }));
    const find = async (q: string) =>
      (
        (await (await log!.req(`/v1/sessions?command=${encodeURIComponent(q)}`)).json()) as {
          id: string;
        }[]
      ).map((s) => s.id);
    expect(await find("SYSTEMCTL restart")).toEqual([SESSION]);
    expect(await find("rm -rf")).toEqual([]);
    expect((await log.req("/v1/sessions?command=")).status).toBe(400);
  });
});

describe("denied requests", () => {
  it("are counted per key and address, and a burst is posted to the alert webhook", async () => {
    const alerts: unknown[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        alerts.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const port = (hook.address() as { port: number }).port;
    try {
      log = await openTestLog({ alertUrl: `http://127.0.0.1:${port}/alert` });
      const submitter = await log.ctx.auth.create("agent", ["submit"], "web-1");
      expect((await log.req("/v1/keys", { token: submitter.token })).status).toBe(403);
      for (let i = 0; i < 20; i++)
        expect((await log.req("/v1/keys", { token: "tt_wrong" })).status).toBe(401);
      const metrics = await (await log.req("/metrics")).text();
      expect(metrics).toContain(
        `tmuxtrail_denied_total{addr="unknown",key="${submitter.id}",status="403"} 1`,
      );
      expect(metrics).toContain('tmuxtrail_denied_total{addr="unknown",key="-",status="401"} 20');
      // A timeout here is reported by the expectation below.
      await until(async () => alerts.length > 0, 10_000, "an alert").catch(() => undefined);
      expect(alerts).toEqual([
        expect.objectContaining({
          kind: "denied-burst",
          origin: ORIGIN,
          addr: "unknown",
          count: 20,
        }),
      ]);
    } finally {
      hook.close();
    }
  });
});
