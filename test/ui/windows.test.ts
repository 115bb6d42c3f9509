// The web UI's windows (src/ui/windows.ts), without a browser: the plan covers every moment once
// (no since first, no until last, each until the next since), sized from the event count; the
// join accepts windows that meet per pane (a pane may skip a window) and fails a gap, a pane that
// starts after seq 0, another user and a window that could not be loaded, naming the window, also
// when windows arrive out of order.
import { describe, expect, it } from "vitest";
import type { StreamReport } from "../../src/core/session-bundle-verify.ts";
import type { WindowSummary } from "../../src/ui/window-verify.ts";
import { MAX_WINDOWS, planWindows, SessionJoin } from "../../src/ui/windows.ts";

const meta = (events: number) => ({
  start: "2026-11-24T19:00:00.000Z",
  end: "2026-11-24T22:00:00.000Z",
  events,
});

function summary(
  streams: Partial<StreamReport>[],
  user = "carol",
  failures = [],
  checkpoint = { size: 10, root: "R10" },
): WindowSummary {
  const s = streams.map((x) => ({ events: 1, status: "open" as const, ...x }) as StreamReport);
  return {
    report: {
      ok: failures.length === 0,
      consistent: failures.length === 0,
      trusted: {
        log: ["k"],
        witnesses: [],
        quorum: 0,
        source: { log: "given", witnesses: "given" },
      },
      origin: "o",
      session: { id: "i", host: "h", server: "s", session: "$1", user },
      window: null,
      checkpoint: { ...checkpoint, cosigners: [] },
      events: s.reduce((n, x) => n + x.events, 0),
      verified: s.reduce((n, x) => n + x.events, 0),
      erased: [],
      streams: s,
      casts: [],
      pending: 0,
      last: null,
      sessionClosed: false,
      failures,
    },
    recordings: {},
    commands: [],
    failed: [],
    chars: 0,
  };
}

describe("planWindows", () => {
  it("one window for a short session; else equal spans that cover everything once", () => {
    expect(planWindows(meta(2500))).toEqual([{}]);
    const w = planWindows(meta(10_000));
    expect(w).toHaveLength(4);
    expect(w[0]).toEqual({ until: "2026-11-24T19:45:00.000Z" });
    expect(w[3]).toEqual({ since: "2026-11-24T21:15:00.000Z" });
    for (let i = 1; i < w.length; i++) expect(w[i]!.since).toBe(w[i - 1]!.until);
    expect(planWindows(meta(1e9))).toHaveLength(MAX_WINDOWS);
    expect(planWindows({ ...meta(1e6), end: "nonsense" })).toEqual([{}]);
    expect(planWindows({ ...meta(1e6), end: "2026-11-24T19:00:00.001Z" })).toEqual([{}]);
  });
});

describe("SessionJoin", () => {
  const windows = planWindows(meta(10_000));
  it("accepts windows that meet, a pane skipping a window, and a pane opened later", () => {
    const j = new SessionJoin(windows);
    j.add(0, summary([{ pane: "%0", firstSeq: 0, lastSeq: 9, events: 10 }]));
    j.add(1, summary([{ pane: "%1", firstSeq: 0, lastSeq: 4, events: 5 }]));
    j.add(2, summary([]));
    j.add(3, summary([{ pane: "%0", firstSeq: 10, lastSeq: 12, events: 3, status: "complete" }]));
    expect(j.failures).toEqual([]);
    expect(j.ok).toBe(true);
    expect(j.panes.get("%0")).toEqual({ pane: "%0", events: 13, lastSeq: 12, status: "complete" });
    expect([j.events, j.verified]).toEqual([18, 18]);
  });

  it("fails a gap between windows, a late first seq, another user, a window not loaded — in any order", () => {
    const j = new SessionJoin(windows);
    j.add(2, summary([{ pane: "%0", firstSeq: 12, lastSeq: 20 }], "mallory"));
    expect(j.joined).toBe(0);
    j.add(0, summary([{ pane: "%0", firstSeq: 0, lastSeq: 9 }]));
    j.addError(1, "HTTP 500");
    j.add(3, summary([{ pane: "%2", firstSeq: 3, lastSeq: 4 }]));
    expect(j.done).toBe(true);
    expect(j.ok).toBe(false);
    expect(j.failures.map((f) => [f.window, f.message])).toEqual([
      [1, "could not be loaded: HTTP 500"],
      [2, "meets: names user mallory, the windows before name carol"],
      [2, "meets: pane %0 starts at seq 12, the window before it ends at seq 9"],
      [3, "meets: pane %2 starts at seq 3, but no window before shows it (seq 0 is missing)"],
    ]);
    expect(j.panes.get("%0")?.status).toBe("gap");
    expect(j.name(2)).toBe("window 3 of 4 (2026-11-24T20:30:00.000Z to 2026-11-24T21:15:00.000Z)");
  });

  it("pins the first window's checkpoint and fails a window proven against another (two forks)", () => {
    const j = new SessionJoin(windows);
    j.add(1, summary([{ pane: "%0", firstSeq: 10, lastSeq: 19 }]));
    expect(j.checkpoint).toEqual({ size: 10, root: "R10" });
    j.add(
      0,
      summary([{ pane: "%0", firstSeq: 0, lastSeq: 9 }], "carol", [], { size: 10, root: "X" }),
    );
    j.add(2, summary([], "carol", [], { size: 12, root: "R12" }));
    j.add(3, summary([]));
    expect(j.failures.map((f) => f.window)).toEqual([0, 2]);
    expect(j.failures[0]!.message).toMatch(
      /size 10 \(root X\), the windows before against size 10 \(root R10\): not one tree/,
    );
  });
});
