// A log holding session $1 (two panes, one event a minute from 19:00) interleaved with session $2,
// so $1's indexes are never one run: the set-up of the session bundle v3 tests.
import { expect } from "vitest";
import { type AnySessionBundle, parseSessionBundle } from "../../src/core/session-bundle.ts";
import { makeSubmission } from "./events.ts";
import { openTestLog, type TestLog } from "./log.ts";

/** The time of event `minute` of $1: that many minutes past 2026-11-24T19:00Z. */
export const minuteAt = (minute: number) =>
  new Date(Date.UTC(2026, 10, 24, 19, minute, 0)).toISOString();

/** `n` events of $1 (panes %3 and %4 alternating) and `n` of $2, all covered by a checkpoint. */
export async function interleavedSessionLog(n: number): Promise<TestLog> {
  const log = await openTestLog({ publishIntervalMs: 100 });
  const batch: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(
      makeSubmission({ session: "$1", pane: i % 2 ? "%4" : "%3", seq: i >> 1, time: minuteAt(i) }),
    );
    batch.push(makeSubmission({ session: "$2", pane: "%9", seq: i, time: minuteAt(i) }));
  }
  const res = await log.req("/v1/events?wait=checkpoint", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return log;
}

/** GET /v1/sessions/:id/export?<query>, parsed as a bundle (the status must be 200). */
export async function exportBundle(
  log: TestLog,
  id: string,
  query: string,
): Promise<AnySessionBundle> {
  const res = await log.req(`/v1/sessions/${id}/export?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return parseSessionBundle(JSON.parse(await res.text()));
}
