// The session page of the web UI: the session verified here, in the browser, by src/core's
// verifySessionBundle (the badge and its checks), the command timeline, and a player per pane with
// the events that failed verification marked where they play.
//
// A session is loaded by time window (windows.ts): the page reads its metadata (GET
// /v1/sessions/:id), cuts [start, end] into windows of a few thousand events, and has the verify
// worker (verify-worker.ts, off this thread) fetch and verify each window's v3 bundle
// (?format=v3&since=&until=) under the pinned policy: the first window alone and first, so its
// panes play while later windows load and verify in the background, two in flight; a seek or play
// into a window not loaded yet asks for it next. Only what playback and the timeline need is kept of a
// verified window. The badge counts what is verified so far and ends on the whole session's
// verdict: every window verified and each meeting the one before (per pane, seqs continue).
// About 400 lines: SessionView is the page's one view (badge, checks, timeline, players), filled
// window by window; feeding the worker is window-loader.ts.

import { api } from "./api.ts";
import { clock, h } from "./dom.ts";
import { CastPlayer, type Segment } from "./player.ts";
import { describePolicy, pinnedPolicy, quorumWarning, type TrustPolicy } from "./trust.ts";
import { WindowLoader } from "./window-loader.ts";
import type { WindowSummary } from "./window-verify.ts";
import { EVENTS_PER_WINDOW, planWindows, SessionJoin } from "./windows.ts";

/** Failures listed one per line; more are counted. */
const SHOWN_FAILURES = 200;

let leave: (() => void) | undefined;
/** Stops the page's loading (its worker) when the user navigates away. */
export function leaveSessionPage(): void {
  leave?.();
  leave = undefined;
}

interface SessionInfo {
  host: string;
  session: string;
  user: string;
  start: string;
  end: string;
  events: number;
}

const n = (x: number) => x.toLocaleString("en-US");

export async function sessionPage(
  app: HTMLElement,
  players: Map<string, CastPlayer>,
  id: string,
): Promise<void> {
  leaveSessionPage();
  const badge = h("span.badge", { "data-verify": "pending", role: "status" }, "Verifying…");
  const checks = h("ul.checks");
  const head = h(
    "section.card",
    {},
    h(
      "div.session-head",
      {},
      h(
        "div",
        {},
        h("a", { href: "/ui", "data-link": true }, "← Sessions"),
        h("h1", { "data-title": true }, "Session"),
      ),
      badge,
    ),
    checks,
  );
  // Only the pinned policy: never the bundle's keys, never what the log announces. Without one,
  // nothing is fetched (opening a session is a recorded read).
  const policy = pinnedPolicy();
  if (!policy) {
    badge.dataset.verify = "fail";
    badge.textContent = "✗ not verified: no trust policy is pinned in this browser";
    checks.replaceChildren(
      h("li.fail", {}, h("a", { href: "/ui/trust", "data-link": true }, "Pin a log key first")),
    );
    app.replaceChildren(head);
    return;
  }
  app.replaceChildren(head, h("p.muted", {}, "Loading the session…"));
  const info = await api<SessionInfo>(`/v1/sessions/${id}`);
  const title = head.querySelector("[data-title]")!;
  title.textContent = `${info.user}@${info.host} · tmux session ${info.session}`;
  // ?per-window=N sizes the windows (tests and benchmarks); the split never weakens a check.
  const asked = Number(new URLSearchParams(location.search).get("per-window"));
  const perWindow = asked >= 10 ? Math.min(asked, 100_000) : EVENTS_PER_WINDOW;
  const join = new SessionJoin(planWindows(info, perWindow));
  const view = new SessionView(app, head, badge, checks, title, players, join, policy, info);
  const loader = new WindowLoader(id, policy, join, (k, s) => view.add(k, s));
  view.onNeed = (k) => loader.want(k);
  leave = () => loader.stop();
  loader.pump();
}

/** The page: badge and checks, the command timeline, and the players, filled window by window. */
class SessionView {
  onNeed: ((k: number) => void) | undefined;
  private readonly timeline = h("ol.timeline", { "data-list": "commands" });
  private readonly tabs = h("div.tabs", { role: "tablist" });
  private readonly stage = h("div");
  private readonly notes = h("div");
  private readonly strip = h("ol.windows", { "data-list": "windows" });
  /** The first command item of each window, to insert a later-loaded window's in time order. */
  private readonly firstItem = new Map<number, HTMLElement>();
  private readonly markers = new Map<string, number[]>();
  private readonly segments: Segment[];
  /** Milliseconds since 1970 at play time 0 of every pane. */
  private origin: number | undefined;
  private shown: string | undefined;
  private readonly started = performance.now();

  constructor(
    app: HTMLElement,
    head: HTMLElement,
    private readonly badge: HTMLElement,
    private readonly checks: HTMLElement,
    private readonly title: Element,
    private readonly players: Map<string, CastPlayer>,
    private readonly join: SessionJoin,
    private readonly policy: TrustPolicy,
    private readonly info: SessionInfo,
  ) {
    const windows = join.windows;
    this.origin = Date.parse(info.start);
    if (!Number.isFinite(this.origin)) this.origin = undefined;
    this.segments = windows.map((w, k) => ({
      start: k === 0 ? 0 : this.at(Date.parse(w.since!)),
      end: w.until ? this.at(Date.parse(w.until)) : Number.POSITIVE_INFINITY,
    }));
    if (windows.length > 1) {
      windows.forEach((_, k) => {
        this.strip.append(
          h(
            "li",
            {
              "data-window": k,
              "data-state": "pending",
              title: join.name(k),
              onclick: (() => this.jump(k)) as EventListener,
            },
            String(k + 1),
          ),
        );
      });
    }
    const panes = h("section.card", {}, h("h2", {}, "Replay"), this.tabs, this.notes, this.stage);
    const timeline = h("section.card", {}, h("h2", {}, "Commands"), this.timeline);
    app.replaceChildren(
      head,
      ...(windows.length > 1 ? [this.strip] : []),
      h("div.layout", {}, timeline, panes),
    );
    this.showReport();
  }

  /** Seconds since the origin (play time 0). */
  private at(ms: number): number {
    return (ms - (this.origin ?? ms)) / 1000;
  }

  /** Jumps every player to the start of window k (loading it first if needed). */
  private jump(k: number): void {
    const s = this.segments[k]!;
    const player = this.shown ? this.players.get(this.shown) : undefined;
    if (player) player.jumpTo(Math.max(0, s.start));
    this.onNeed?.(k);
  }

  add(k: number, s: WindowSummary | string): void {
    if (typeof s === "string") this.join.addError(k, s);
    else this.join.add(k, s);
    const failed = this.join.failures.some((f) => f.window === k);
    this.strip
      .querySelector(`[data-window="${k}"]`)
      ?.setAttribute("data-state", failed ? "fail" : "ok");
    if (typeof s !== "string") this.show(k, s);
    this.showReport();
  }

  private show(k: number, s: WindowSummary): void {
    if (s.report.session && k === 0) {
      const hd = s.report.session;
      this.title.textContent = `${hd.user}@${hd.host} · tmux session ${hd.session}`;
    }
    if (this.origin === undefined || k === 0) {
      // Play time 0 is the session's first moment: never after a pane's first event.
      const t0s = Object.values(s.recordings).map((r) => r.t0);
      const first = Math.min(this.origin ?? Number.POSITIVE_INFINITY, ...t0s);
      if (Number.isFinite(first) && first !== this.origin && this.players.size === 0) {
        this.origin = first;
        this.join.windows.forEach((w, i) => {
          if (i > 0) this.segments[i]!.start = this.at(Date.parse(w.since!));
          if (w.until) this.segments[i]!.end = this.at(Date.parse(w.until));
        });
      }
    }
    // Players: the window's part of each pane's recording, placed on the session's timeline.
    for (const [pane, rec] of Object.entries(s.recordings)) {
      let player = this.players.get(pane);
      if (!player) {
        player = new CastPlayer({ width: rec.width, height: rec.height }, pane, this.segments);
        player.onNeed = (seg) => this.onNeed?.(seg);
        this.players.set(pane, player);
        for (let i = 0; i < this.join.windows.length; i++)
          if (i !== k && this.join.reports[i]) player.setSegment(i, []);
        this.tabs.append(
          h(
            "button",
            { type: "button", role: "tab", "data-tab": pane, onclick: () => this.select(pane) },
            `pane ${pane}`,
          ),
        );
        this.stage.append(player.element);
        if (!this.shown) this.select(pane);
        else player.element.hidden = true;
      }
      const offset = this.at(rec.t0);
      player.setSegment(
        k,
        rec.events.map(([t, code, data]) => [offset + t, code, data]),
      );
    }
    for (const [pane, player] of this.players) if (!s.recordings[pane]) player.setSegment(k, []);
    // Failed events: marked where they play, and named.
    for (const f of s.failed) {
      if (f.time && this.players.has(f.pane)) {
        const list = this.markers.get(f.pane) ?? [];
        list.push(this.at(Date.parse(f.time)));
        this.markers.set(f.pane, list);
        this.players.get(f.pane)!.setMarkers(list);
      }
      this.notes.append(
        h(
          "p.tamper-note",
          { "data-tampered": f.index },
          `Event #${f.index} (${f.type} in pane ${f.pane}) failed verification: ${f.why}`,
        ),
      );
    }
    this.addCommands(k, s);
    if (this.players.size > 0 && !document.body.dataset.firstFrame) {
      // The first screen can play: what a reader waits for before anything (for measurements).
      document.body.dataset.firstFrame = String(Math.round(performance.now() - this.started));
      performance.mark("tmuxtrail:first-frame", {
        detail: { windows: this.join.loaded, of: this.join.windows.length },
      });
    }
  }

  private select(pane: string): void {
    this.shown = pane;
    for (const [p, player] of this.players) {
      player.element.hidden = p !== pane;
      if (p !== pane) player.pause();
    }
    for (const b of this.tabs.querySelectorAll("button"))
      b.setAttribute("aria-selected", String(b.dataset.tab === pane));
  }

  private addCommands(k: number, s: WindowSummary): void {
    const items = s.commands.map((c) => {
      const item = h(
        c.status !== null ? "li.tampered" : "li",
        {
          "data-index": c.index,
          "data-pane": c.pane,
          title: c.status !== null ? `failed verification: ${c.status}` : "",
        },
        h(
          "div.line",
          {},
          c.erasedBy !== undefined ? `[content erased by event #${c.erasedBy}]` : (c.line ?? ""),
        ),
        h(
          "div.meta",
          {},
          `${clock(this.at(Date.parse(c.start)))} · pane ${c.pane} · ${c.cwd ?? ""} · `,
          c.exit === undefined
            ? ""
            : h(c.exit === 0 ? "span.exit-ok" : "span.exit-fail", {}, `exit ${c.exit ?? "?"}`),
          c.seconds !== null ? ` · ${c.seconds.toFixed(2)} s` : "",
          c.status !== null ? ` · ✗ ${c.status}` : "",
        ),
      );
      item.addEventListener("click", () => {
        const player = this.players.get(c.pane);
        if (!player) return;
        this.select(c.pane);
        player.jumpTo(this.at(Date.parse(c.start)));
      });
      return item;
    });
    if (items.length === 0) return;
    this.firstItem.set(k, items[0]!);
    // Before the first item of the next window that has one.
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.firstItem.keys()) if (w > k && w < next) next = w;
    const before = this.firstItem.get(next) ?? null;
    for (const item of items) this.timeline.insertBefore(item, before);
  }

  private showReport(): void {
    const j = this.join;
    const policy = this.policy;
    const r0 = j.reports.find(Boolean);
    const last = j.lastReport;
    const many = j.windows.length > 1;
    const failures = j.failures.map((f) => ({
      ...f,
      text: many ? `${j.name(f.window)}: ${f.message}` : f.message,
    }));
    this.badge.dataset.policy = describePolicy(policy);
    if (!j.done) {
      this.badge.dataset.verify = "pending";
      this.badge.textContent = `Verifying… verified ${n(j.verified)} of ${n(Math.max(this.info.events, j.events))} events (${j.loaded} of ${j.windows.length} window${j.windows.length > 1 ? "s" : ""})${failures.length ? `, ${failures.length} failure${failures.length > 1 ? "s" : ""} so far` : ""}`;
    } else {
      this.badge.dataset.verify = j.ok ? "ok" : "fail";
      this.badge.textContent = j.ok
        ? `✓ verified · ${describePolicy(policy)}`
        : `✗ verification failed: ${failures[0]!.text}${failures.length > 1 ? ` (+${failures.length - 1} more)` : ""} · ${describePolicy(policy)}`;
      if (!document.body.dataset.verdict) {
        document.body.dataset.verdict = String(Math.round(performance.now() - this.started));
        performance.mark("tmuxtrail:verdict", { detail: { ok: j.ok } });
      }
    }
    if (!r0) {
      this.checks.replaceChildren(h("li", {}, "Loading and verifying the first window…"));
      return;
    }
    const li = (ok: boolean, text: string) =>
      h(ok ? "li" : "li.fail", {}, `${ok ? "✓" : "✗"} ${text}`);
    const cpFailed = j.failures.some((f) => f.message.startsWith("checkpoint:"));
    const warning = quorumWarning(policy);
    const sizes = j.reports.flatMap((r) => (r?.checkpoint ? [r.checkpoint.size] : []));
    const lo = Math.min(...sizes);
    const hi = Math.max(...sizes);
    const cp = sizes.length
      ? lo === hi
        ? `checkpoint of size ${hi}`
        : `checkpoints of size ${lo} to ${hi}`
      : "checkpoint (unverified)";
    const cosigned = j.reports.find((r) => r?.checkpoint)?.checkpoint?.cosigners ?? [];
    const recordings = [...this.players.keys()];
    const items = [
      li(!cpFailed, `log signature by ${r0.trusted.log.join(", ")} (the key you pinned)`),
      li(
        !cpFailed,
        r0.trusted.quorum > 0
          ? `witness quorum ${r0.trusted.quorum} of ${r0.trusted.witnesses.length} you pinned: cosigned by ${cosigned.join(", ") || "none"}`
          : "no witness cosignature required by your policy",
      ),
      ...(warning ? [h("li.warning", { "data-quorum-warning": true }, `⚠ ${warning}`)] : []),
      li(
        j.verified === j.events,
        `${j.verified} of ${j.events} events included in ${cp}, their content matching its commitments${j.done ? "" : " (so far)"}`,
      ),
      ...(many
        ? [
            li(
              !j.failures.some((f) => f.message.startsWith("meets:")),
              `${j.joined} of ${j.windows.length} time windows verified and meeting the one before (per pane, seqs continue)`,
            ),
          ]
        : []),
      ...[...j.panes.values()].map((s) =>
        li(
          s.status !== "gap",
          `pane ${s.pane}: ${s.status === "complete" ? `complete, seq 0..${s.lastSeq}` : s.status === "open" ? `seq 0..${s.lastSeq}, ${j.done ? "still open" : "so far"}` : "has a gap"}`,
        ),
      ),
      ...(j.erased.length
        ? [
            li(
              true,
              `${j.erased.length} events' content erased by event${new Set(j.erased.map((e) => e.by)).size > 1 ? "s" : ""} #${[...new Set(j.erased.map((e) => e.by))].join(", #")}`,
            ),
          ]
        : []),
      li(true, `recordings played from the verified events: ${recordings.join(", ") || "none"}`),
      ...(last?.pending
        ? [
            h(
              "li",
              {},
              `${last.pending} newer events are not yet covered by a checkpoint and are not shown`,
            ),
          ]
        : []),
      ...failures
        .slice(0, SHOWN_FAILURES)
        .map((f) =>
          h("li.fail", { "data-failure": f.index ?? "", "data-window": f.window }, `✗ ${f.text}`),
        ),
      ...(failures.length > SHOWN_FAILURES
        ? [h("li.fail", {}, `✗ … and ${failures.length - SHOWN_FAILURES} more failures`)]
        : []),
    ];
    if (j.done && j.events > 0 && this.timeline.children.length === 0) {
      this.timeline.append(
        h(
          "li.muted",
          {},
          "No commands recorded (install the shell hook: tmuxtrail agent shell-hook bash).",
        ),
      );
    }
    if (j.done && this.players.size === 0 && !this.stage.children.length) {
      this.stage.append(h("p.muted", {}, "This session has no pane output."));
    }
    this.checks.replaceChildren(...items);
  }
}
