// One window of a session, verified (in the verify worker, verify-worker.ts): the bundle text the
// log answered is parsed and checked by src/core's verifySessionBundle, under the policy the page
// pinned and nothing else, and reduced to what the page needs to show and play it: the report
// without its per-event map, per pane the recording with the time its first event happened (to
// place it on the session's timeline), the commands, and the events that failed. The bundle text
// is not kept: once verified, only this summary leaves the worker.

import { base64Decode, utf8Decode } from "../core/encoding.ts";
import { parseSessionBundle } from "../core/session-bundle.ts";
import { type BundleReport, verifySessionBundle } from "../core/session-bundle-verify.ts";
import type { TimeWindow } from "../core/time-window.ts";

/** The page's pinned policy and the session it asked for. */
export interface WindowTrust {
  logKey: string;
  witnessKeys: string[];
  quorum: number;
  sessionId: string;
}

export interface WindowCommand {
  index: number;
  pane: string;
  /** When the command started (its own `start`, else the event's time), as RFC 3339 text. */
  start: string;
  line?: string;
  cwd?: string;
  exit?: number | null;
  seconds: number | null;
  /** Why it failed verification, or null. */
  status: string | null;
  erasedBy?: number;
}

export interface WindowRecording {
  /** Milliseconds since 1970 of the pane's first verified event in this window (the cast's 0). */
  t0: number;
  width: number;
  height: number;
  /** [seconds since t0, code, data], as in the cast. */
  events: [number, string, string][];
}

export type WindowReport = Omit<BundleReport, "recordings" | "eventStatus">;

export interface WindowSummary {
  report: WindowReport;
  recordings: Record<string, WindowRecording>;
  commands: WindowCommand[];
  /** Events that failed verification: where they were (for markers) and why. */
  failed: { index: number; pane: string; type: string; time: string | null; why: string }[];
  /** The bundle's size in characters (what was fetched and dropped). */
  chars: number;
}

/** A leaf's metadata, read leniently (for display only; verification is what vouches for it). */
function meta(leaf: string): { type?: string; pane?: string; time?: string; seq?: number } {
  try {
    const m = JSON.parse(leaf) as unknown;
    return m && typeof m === "object" ? (m as Record<string, never>) : {};
  } catch {
    return {};
  }
}

/** Parses and verifies one window's bundle text; throws only when it is not a bundle at all. */
export function verifyWindow(
  text: string,
  trust: WindowTrust,
  requested: TimeWindow,
): WindowSummary {
  const bundle = parseSessionBundle(JSON.parse(text));
  const full = verifySessionBundle(bundle, {
    logKeys: [trust.logKey],
    witnessKeys: trust.witnessKeys,
    quorum: trust.quorum,
    // A log that answers another session under this id fails, naming both.
    sessionId: trust.sessionId,
  });
  const { recordings: casts, eventStatus, ...report } = full;
  // The window the log answered must be the one asked for: a narrower one would leave events out.
  const got = report.window ?? {};
  if (got.since !== requested.since || got.until !== requested.until) {
    report.failures.push({
      message: `window: asked for ${requested.since ?? "the start"} to ${requested.until ?? "the end"}, the log answered ${got.since ?? "the start"} to ${got.until ?? "the end"}`,
    });
    report.ok = false;
    report.consistent = false;
  }
  // Each pane's cast starts at its first verified event in stream order (as buildCasts does).
  const first = new Map<string, { seq: number; time: number }>();
  const failed: WindowSummary["failed"] = [];
  const commands: WindowCommand[] = [];
  const erasedBy = new Map(report.erased.map((e) => [e.index, e.by]));
  for (const e of bundle.events) {
    const m = meta(e.leaf);
    const status = eventStatus[e.index] ?? null;
    const pane = typeof m.pane === "string" ? m.pane : "?";
    if (status !== null) {
      failed.push({
        index: e.index,
        pane,
        type: String(m.type ?? "?"),
        time: typeof m.time === "string" ? m.time : null,
        why: status,
      });
    } else if (typeof m.seq === "number" && typeof m.time === "string") {
      const f = first.get(pane);
      if (!f || m.seq < f.seq) first.set(pane, { seq: m.seq, time: Date.parse(m.time) });
    }
    if (m.type !== "command") continue;
    let cmd: { line?: string; cwd?: string; exit?: number | null; start?: string; end?: string } =
      {};
    if (e.payload) {
      try {
        cmd = JSON.parse(utf8Decode(base64Decode(e.payload.content)));
      } catch {
        cmd = {};
      }
    }
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    const start = str(cmd.start) ?? m.time ?? "";
    const end = str(cmd.end);
    commands.push({
      index: e.index,
      pane,
      start,
      line: str(cmd.line),
      cwd: str(cmd.cwd),
      exit: typeof cmd.exit === "number" || cmd.exit === null ? cmd.exit : undefined,
      seconds: end ? (Date.parse(end) - Date.parse(start)) / 1000 : null,
      status,
      erasedBy: erasedBy.get(e.index),
    });
  }
  const recordings: Record<string, WindowRecording> = {};
  for (const [pane, cast] of Object.entries(casts)) {
    const lines = cast.split("\n").filter((l) => l.length > 0);
    const header = JSON.parse(lines[0] ?? "{}") as { width?: number; height?: number };
    recordings[pane] = {
      t0: first.get(pane)?.time ?? 0,
      width: Number(header.width) || 80,
      height: Number(header.height) || 24,
      events: lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]),
    };
  }
  return { report, recordings, commands, failed, chars: text.length };
}
