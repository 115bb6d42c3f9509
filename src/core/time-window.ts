// Time windows of a session (export --since/--until, docs/design.md §2.10): an event is in the
// window [since, until) by its own `time`, compared exactly as RFC 3339 UTC text with the fraction
// padded to nine digits, so the exporter and every verifier agree on the events at the edges
// whatever precision a database keeps.

import { TrailError } from "./errors.ts";
import { timeSchema } from "./events.ts";

export interface TimeWindow {
  since?: string;
  until?: string;
}

/** What the API's and the CLI's time filters accept: an RFC 3339 time with an offset, or a date. */
export const TIME_OR_DATE = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/;

/** A TIME_OR_DATE as the UTC instant it names (ISO text, milliseconds), or undefined. */
export function utcTimeOrDate(v: string): string | undefined {
  const t = Date.parse(v);
  return TIME_OR_DATE.test(v) && !Number.isNaN(t) ? new Date(t).toISOString() : undefined;
}

/** A key that orders RFC 3339 UTC times (as events.ts accepts them) as the instants they name. */
export function timeKey(t: string): string {
  const dot = t.indexOf(".");
  const secs = dot < 0 ? t.slice(0, -1) : t.slice(0, dot);
  const frac = dot < 0 ? "" : t.slice(dot + 1, -1);
  return `${secs}.${frac.padEnd(9, "0")}`;
}

/** Throws TrailError("malformed") unless each bound is a valid time and since < until. */
export function checkWindow(w: TimeWindow, what = "window"): void {
  for (const [k, v] of Object.entries(w)) {
    if (v !== undefined && !timeSchema.safeParse(v).success) {
      throw new TrailError(
        "malformed",
        `${what}: ${k} ${JSON.stringify(v)} is not an RFC 3339 UTC time like 2026-11-24T19:00:00Z`,
      );
    }
  }
  if (w.since !== undefined && w.until !== undefined && timeKey(w.since) >= timeKey(w.until)) {
    throw new TrailError("malformed", `${what}: since ${w.since} is not before until ${w.until}`);
  }
}

/** Whether an event's time lies in [since, until) (an open bound admits every time). */
export function inWindow(time: string, w: TimeWindow): boolean {
  const k = timeKey(time);
  return (
    (w.since === undefined || k >= timeKey(w.since)) &&
    (w.until === undefined || k < timeKey(w.until))
  );
}
