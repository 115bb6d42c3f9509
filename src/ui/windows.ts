// A long session, loaded by time window (session-page.ts): the plan (how [start, end] is cut) and
// the join (what the windows verified so far prove together). Each window is a v3 bundle verified
// on its own in the verify worker (window-verify.ts); the join adds what no single window can
// check: the windows meet. Per pane, a window's first seq is the previous window's last seq + 1
// (the previous window the pane appeared in; a pane never seen before starts at seq 0), the
// first window has no `since` (so the session's seqs start at 0), the last no `until` (so the
// bundle's `last` rule applies), every window names the same session and user. Any failure of
// any window, or of a meeting, fails the whole session, naming the window.

import type { TimeWindow } from "../core/time-window.ts";
import type { WindowReport, WindowSummary } from "./window-verify.ts";

/**
 * Events aimed at per window: a v3 bundle of 2,500 events is about 1 MB of text and verifies in
 * well under a second in the worker, so the first screen comes quickly, and a 100,000-event
 * session is 40 windows (few enough requests and access events).
 */
export const EVENTS_PER_WINDOW = 2500;
/** However many events a session claims, no more windows than this. */
export const MAX_WINDOWS = 1000;

export interface SessionMeta {
  start: string;
  end: string;
  events: number;
}

/**
 * Cuts [start, end] into equal spans of time, as many as the event count asks for at `perWindow`
 * each (events are not spread evenly in time, so a window may hold more or fewer, or none: a quiet
 * window verifies). The
 * first window has no since and the last no until, so whatever the metadata says, the windows
 * cover every moment once.
 */
export function planWindows(meta: SessionMeta, perWindow = EVENTS_PER_WINDOW): TimeWindow[] {
  const start = Date.parse(meta.start);
  const end = Date.parse(meta.end);
  const wanted = Math.ceil(Number(meta.events) / Math.max(1, perWindow));
  if (!Number.isFinite(start) || !Number.isFinite(end) || !(wanted > 1) || end - start < 2) {
    return [{}];
  }
  // Bounds at whole milliseconds, strictly increasing.
  const n = Math.min(wanted, MAX_WINDOWS, end - start);
  const bounds: string[] = [];
  for (let i = 1; i < n; i++) {
    bounds.push(new Date(start + Math.floor(((end - start) * i) / n)).toISOString());
  }
  return Array.from({ length: n }, (_, i) => ({
    ...(i > 0 ? { since: bounds[i - 1] } : {}),
    ...(i < n - 1 ? { until: bounds[i] } : {}),
  }));
}

export interface JoinFailure {
  window: number;
  index?: number;
  message: string;
}

export interface PaneState {
  pane: string;
  events: number;
  lastSeq: number;
  status: "complete" | "open" | "gap";
}

/** The windows verified so far and what they prove together. */
export class SessionJoin {
  readonly reports: (WindowReport | undefined)[];
  /** Windows 0 .. joined-1 have been verified and checked against their neighbours. */
  joined = 0;
  readonly panes = new Map<string, PaneState>();
  readonly failures: JoinFailure[] = [];
  events = 0;
  verified = 0;
  erased: { index: number; by: number }[] = [];
  /**
   * The checkpoint of the first window verified: every later window is asked for at its size and
   * must be proven against it (same size, same root), so all windows are of one tree; windows
   * proven against two checkpoints could be of two forks signed by the same key.
   */
  checkpoint: { size: number; root: string } | undefined;
  private user: string | undefined;

  constructor(readonly windows: TimeWindow[]) {
    this.reports = windows.map(() => undefined);
  }

  /** "window 3 of 25 (since … until …)". */
  name(k: number): string {
    const w = this.windows[k]!;
    if (this.windows.length === 1) return "the session";
    return `window ${k + 1} of ${this.windows.length} (${w.since ?? "start"} to ${w.until ?? "end"})`;
  }

  get loaded(): number {
    return this.reports.filter(Boolean).length;
  }

  get done(): boolean {
    return this.joined === this.windows.length;
  }

  /** True when every window is verified and joined without a failure. */
  get ok(): boolean {
    return this.done && this.failures.length === 0;
  }

  /** A window that could not be loaded at all: a failure like any other. */
  addError(k: number, message: string): void {
    this.add(k, undefined, message);
  }

  /** A verified window. Joins every window it completes the prefix of. */
  add(k: number, s: WindowSummary | undefined, error?: string): void {
    const fail = (message: string, index?: number) =>
      this.failures.push({ window: k, ...(index === undefined ? {} : { index }), message });
    const r: WindowReport = s?.report ?? {
      ok: false,
      consistent: false,
      trusted: { log: [], witnesses: [], quorum: 0, source: { log: "given", witnesses: "given" } },
      origin: "",
      session: null,
      window: null,
      checkpoint: null,
      events: 0,
      verified: 0,
      erased: [],
      streams: [],
      casts: [],
      pending: 0,
      last: null,
      sessionClosed: false,
      failures: [{ message: `could not be loaded: ${error ?? "no answer"}` }],
    };
    this.reports[k] = r;
    if (r.checkpoint) {
      const cp = { size: r.checkpoint.size, root: r.checkpoint.root };
      if (!this.checkpoint) this.checkpoint = cp;
      else if (cp.size !== this.checkpoint.size || cp.root !== this.checkpoint.root) {
        fail(
          `proven against the checkpoint of size ${cp.size} (root ${cp.root}), the windows before against size ${this.checkpoint.size} (root ${this.checkpoint.root}): not one tree`,
        );
      }
    }
    // A quiet window (no events) verifies (session-bundle-verify.ts); what it could hide shows
    // where the windows around it meet.
    for (const f of r.failures) fail(f.message, f.index);
    this.events += r.events;
    this.verified += r.verified;
    this.erased.push(...r.erased);
    while (this.joined < this.windows.length && this.reports[this.joined]) this.join(this.joined++);
  }

  /** Checks window k against the windows before it (all joined). */
  private join(k: number): void {
    const r = this.reports[k]!;
    const fail = (message: string) => this.failures.push({ window: k, message });
    if (r.session) {
      if (this.user === undefined) this.user = r.session.user;
      else if (r.session.user !== this.user) {
        fail(`meets: names user ${r.session.user}, the windows before name ${this.user}`);
      }
    }
    for (const s of r.streams) {
      const prev = this.panes.get(s.pane);
      const expected = prev ? prev.lastSeq + 1 : 0;
      if (s.firstSeq !== expected) {
        fail(
          prev
            ? `meets: pane ${s.pane} starts at seq ${s.firstSeq}, the window before it ends at seq ${prev.lastSeq}`
            : `meets: pane ${s.pane} starts at seq ${s.firstSeq}, but no window before shows it (seq 0 is missing)`,
        );
      }
      this.panes.set(s.pane, {
        pane: s.pane,
        events: (prev?.events ?? 0) + s.events,
        lastSeq: Math.max(s.lastSeq, prev?.lastSeq ?? -1),
        status:
          prev?.status === "gap" || s.status === "gap" || s.firstSeq !== expected
            ? "gap"
            : s.status,
      });
    }
  }

  /** The last window's report (its checkpoint, pending count, `last`), once it is in. */
  get lastReport(): WindowReport | undefined {
    return this.reports[this.reports.length - 1];
  }
}
