// POST /v1/erasures answers once a checkpoint (with the witness quorum) covers its erasure events,
// as `?wait=checkpoint` does for /v1/events: `erase` followed at once by an export gives a bundle
// that verifies. Before, the answer came as soon as the erasure events were sequenced, and for up
// to a publish interval the export named an erasure event no checkpoint covered yet. When no
// checkpoint comes within serve --wait-timeout: 504 checkpoint-timeout, the erasure done and listed.
import { afterEach, expect, it } from "vitest";
import type { SessionBundle } from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { latestCheckpoint } from "../../src/db/checkpoints.ts";
import { makeBatch } from "../support/events.ts";
import { openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";

let log: TestLog | undefined;
afterEach(async () => {
  await log?.close();
  log = undefined;
});

const session = sessionId("web-1", "default@1764050000", "$1");

/** A log that signs once a second, holding 5 events of session $1, all covered by a checkpoint. */
async function slowLog(): Promise<TestLog> {
  const l = await openTestLog({ publishIntervalMs: 1000 });
  const res = await l.req("/v1/events?wait=checkpoint", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(makeBatch(5)),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return l;
}

const erase = (l: TestLog) =>
  l.req("/v1/erasures", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ session, reason: "gdpr request #9" }),
  });

it("erase answers once a checkpoint covers its erasure event: an export right after verifies", {
  timeout: 30_000,
}, async () => {
  log = await slowLog();
  const res = await erase(log);
  expect(res.status, await res.clone().text()).toBe(200);
  const { erased, events } = (await res.json()) as { erased: number; events: number[] };
  expect(erased).toBe(5);
  const cp = await latestCheckpoint(log.db.sql);
  expect(cp!.size).toBeGreaterThan(Math.max(...events));
  const bundle = (await (await log.req(`/v1/sessions/${session}/export`)).json()) as SessionBundle;
  const report = verifySessionBundle(bundle, { logKeys: [TEST_KEY.verifierKey] });
  expect(report.failures).toEqual([]);
  expect(report.ok).toBe(true);
});

it("no checkpoint within the wait timeout: 504 checkpoint-timeout, the erasure done and listed", {
  timeout: 30_000,
}, async () => {
  log = await slowLog();
  log.ctx.waitTimeoutMs = 50;
  const res = await erase(log);
  expect(res.status).toBe(504);
  expect(res.headers.get("Retry-After")).toBe("5");
  const body = (await res.json()) as {
    error: { code: string; message: string; erased: number; events: number[] };
  };
  expect(body.error.code).toBe("checkpoint-timeout");
  expect(body.error.message).toMatch(/content is erased .* no checkpoint covered them/);
  expect(body.error.erased).toBe(5);
  expect(body.error.events).toHaveLength(1);
});
