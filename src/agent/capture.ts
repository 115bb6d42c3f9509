// Capture: turns a tmux server's activity into events in the spool (docs/design.md §7.1).
//
//   output     every pane pipes its output into a raw file (pane-output.ts: the pipe is set for
//              existing panes at start and for new ones by tmux hooks, so nothing waits for the
//              agent and capture survives an agent restart); the agent tails those files,
//              coalesces per pane (100 ms, 32 KiB), redacts (output-chunks.ts), and appends events
//              to the spool. What a pane already shows when capture starts is recorded with
//              capture-pane.
//   lifecycle  session/window/pane open and close and resize, from polling list-panes (here);
//              attach/detach from client hooks appending to <spool>/hooks.log (hook-logs.ts).
//   commands   the shell hook appends (pane, line, cwd, exit, start, end) to <spool>/commands.log;
//              line and cwd are redacted like output (hook-logs.ts, commands.ts).
// The tmux hooks sit beside the user's (hooks.ts). Whatever tmux runs for the agent writes under
// `umask 077`, so the spool stays owner-only (private.ts) whatever umask the tmux server has.
//
// Each round's events are appended to the spool whole, or not at all: a round the spool cannot
// take (a full disk) gives back its sequence numbers, the panes it announced and the output it
// read, and the next round captures the same again from the raw files. Nothing is skipped.
//
// Whether output arrives is watched per pane (paneStates, shown by `agent status`; pane-health.ts):
// a pane whose output pipe tmux closed, or that changed while its file did not grow, is "output
// NOT ARRIVING" with the reason.
//
// Memory stays bounded: at most 1 MiB is read per pane per tick, and when the spool holds more
// unacknowledged bytes than its cap the agent stops reading (the raw files keep growing on disk,
// nothing is dropped) and says so loudly.
//
// About 300 lines, one class: the panes, the spool's marks and the pending output change together
// at each poll and are given back together when a round cannot be spooled (spoolOrUndo). Reading
// the raw files is pane-output.ts, making events capture-events.ts, hooks.log and commands.log
// hook-logs.ts, cutting output output-chunks.ts, pane health pane-health.ts.

import { CaptureEvents } from "./capture-events.ts";
import { clientHook, commandEvents, hookEvents } from "./hook-logs.ts";
import { TmuxHooks } from "./hooks.ts";
import { PaneHealthWatch } from "./pane-health.ts";
import { PaneOutput } from "./pane-output.ts";
import type { RedactionPattern } from "./redact.ts";
import type { Spool, SpoolLine } from "./spool.ts";
import { type PaneInfo, shq, type Tmux } from "./tmux.ts";

export interface CaptureOptions {
  tmux: Tmux;
  spool: Spool;
  host: string;
  user: string;
  serverId: string;
  patterns: RedactionPattern[];
  spoolCapBytes: number;
  coalesceMs: number;
  maxChunk: number;
  say: (m: string) => void;
}

/** How often the agent checks that its tmux hooks are still there. */
const HOOK_CHECK_MS = 2000;

export class Capture {
  private panes = new Map<string, PaneInfo>();
  private readonly output: PaneOutput;
  private readonly events: CaptureEvents;
  private readonly health = new PaneHealthWatch();
  private lastCapWarning = 0;
  private readonly hooks: TmuxHooks;
  private hooksChecked = Date.now();

  constructor(private readonly o: CaptureOptions) {
    this.output = new PaneOutput(o.spool, o.serverId, o.patterns);
    this.events = new CaptureEvents(o);
    const pipe = `pipe-pane -O ${shq(this.output.pipeCommand())}`;
    this.hooks = new TmuxHooks(
      o.tmux,
      o.spool.dir,
      [
        ["after-new-session", pipe],
        ["after-new-window", pipe],
        ["after-split-window", pipe],
        ["client-attached", clientHook(o.spool.dir, "attach")],
        ["client-detached", clientHook(o.spool.dir, "detach")],
      ],
      o.say,
    );
    this.adoptMarks(this.output.existed);
  }

  /**
   * The spool's pane, window and session marks are one tmux server's. For another server they
   * are reset (its %0 is a new pane with a new, empty raw file), after what the previous server's
   * raw files hold beyond them is spooled as its output, with a pane-close per pane. A spool
   * from before `rawServer` was kept has marks of this server if this server's raw directory was
   * already there.
   */
  private adoptMarks(existed: boolean): void {
    const st = this.o.spool.state;
    if (st.rawServer === this.o.serverId) return;
    const marks = Object.keys(st.raw).filter((k) => k !== "#hooks" && k !== "#commands");
    if (marks.length > 0 && !(st.rawServer === undefined && existed)) {
      if (st.rawServer !== undefined) {
        new Capture({ ...this.o, serverId: st.rawServer }).finishLeftovers();
      }
      for (const k of marks) delete st.raw[k];
    }
    st.rawServer = this.o.serverId;
    this.o.spool.saveState();
  }

  /** Spools what a gone server's raw files hold beyond the marks, and closes its panes. */
  finishLeftovers(): void {
    for (const pane of this.output.filePanes()) {
      this.panes.set(pane, {
        session: "-",
        sessionName: "-",
        window: "-",
        pane,
        cols: 0,
        rows: 0,
        user: "",
      });
      for (;;) {
        const before = this.output.readTo(pane);
        this.output.read(pane);
        const lines = this.flush(pane, true);
        if (lines.length === 0 && this.output.readTo(pane) === before) break;
        const seq = this.o.spool.mark();
        this.spoolOrUndo(lines, seq, this.panes);
      }
      if (this.o.spool.state.raw[pane] !== undefined) {
        const seq = this.o.spool.mark();
        this.spoolOrUndo(
          [this.events.event(this.events.meta("pane-close", pane))],
          seq,
          this.panes,
        );
      }
    }
  }

  /** Pipes a pane's output into its raw file (tmux replaces an earlier pipe). */
  private pipe(pane: string): Promise<string> {
    return this.o.tmux.cmd(
      "pipe-pane",
      "-O",
      "-t",
      pane,
      this.output.pipeCommand().replace("#{pane_id}", pane),
    );
  }

  paneIds(): string[] {
    return [...this.panes.keys()];
  }

  /** Per pane: "captured", or "output NOT ARRIVING: <why>". */
  paneStates(now = Date.now()): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pane of this.panes.keys())
      out[pane] = this.health.state(pane, this.output.file(pane), now);
    return out;
  }

  /** Installs the hooks and pipes, and records what existing panes show. */
  async start(): Promise<void> {
    await this.hooks.install();
    await this.discover(true);
  }

  /** Removes the agent's tmux hooks (a clean stop); the panes' pipes stay, so output is kept. */
  async stop(): Promise<void> {
    await this.hooks.remove();
  }

  /** One round: lifecycle, pane output, hooks and commands into the spool. */
  async tick(now = Date.now()): Promise<void> {
    const lines: SpoolLine[] = [];
    const seq = this.o.spool.mark();
    if (this.o.spool.depth() > this.o.spoolCapBytes) {
      if (now - this.lastCapWarning > 60_000) {
        this.lastCapWarning = now;
        this.o.say(
          `SPOOL FULL: ${this.o.spool.depth()} unacknowledged bytes exceed the cap of ${this.o.spoolCapBytes}; ` +
            "capture is paused (pane output keeps accumulating in the raw files, nothing is dropped) until the log acknowledges",
        );
      }
      return;
    }
    for (const pane of this.panes.keys()) this.output.read(pane);
    for (const [pane, all] of this.output.due(now, this.o.coalesceMs, this.o.maxChunk)) {
      lines.push(...this.flush(pane, all));
    }
    lines.push(
      ...hookEvents(this.o.spool, this.events),
      ...commandEvents(this.o.spool, this.events, this.o.patterns, this.panes),
    );
    this.spoolOrUndo(lines, seq, this.panes);
  }

  /**
   * Appends a round's events, or, when the spool cannot take them (a full disk), undoes the round:
   * the sequence numbers it took, the panes it announced and the output it read are given back, so
   * the next round captures the same output again from the raw files. Nothing is skipped.
   */
  private spoolOrUndo(
    lines: SpoolLine[],
    seq: Record<string, number>,
    panes: Map<string, PaneInfo>,
  ) {
    try {
      this.o.spool.append(lines);
    } catch (e) {
      this.o.spool.restore(seq);
      this.panes = panes;
      this.output.clear();
      throw new Error(`${(e as Error).message}; capture retries from what was last spooled`);
    }
  }

  /** Polls list-panes: new panes are piped and announced, gone ones closed. */
  async discover(initial = false): Promise<void> {
    const now = await this.o.tmux.panes();
    const lines: SpoolLine[] = [];
    const seq = this.o.spool.mark();
    const before = new Map(this.panes);
    const ev = this.events;
    // What was announced is remembered in the spool (raw marks), so a restarted agent does not
    // announce the same sessions, windows and panes again.
    const seen = (mark: string) =>
      this.o.spool.state.raw[mark] !== undefined || lines.some((l) => l.raw?.pane === mark);
    for (const p of now) {
      const old = this.panes.get(p.pane);
      if (!old) {
        if (!seen(`#session:${p.session}`)) {
          lines.push(
            ev.event({ ...ev.meta("session-open", "-", p), name: p.sessionName }, undefined, {
              pane: `#session:${p.session}`,
              end: 0,
            }),
          );
        }
        if (!seen(`#window:${p.window}`)) {
          lines.push(
            ev.event(ev.meta("window-open", "-", p), undefined, {
              pane: `#window:${p.window}`,
              end: 0,
            }),
          );
        }
        await this.pipe(p.pane);
        this.panes.set(p.pane, p);
        const known = this.o.spool.state.raw[p.pane] !== undefined;
        if (!known) {
          lines.push(
            ev.event(
              { ...ev.meta("pane-open", p.pane, p), size: { cols: p.cols, rows: p.rows } },
              undefined,
              { pane: p.pane, end: 0 },
            ),
          );
        }
        if (initial && !known) {
          // What the pane already shows: recorded once, when capture first starts on it.
          const screen = await this.o.tmux.capture(p.pane);
          if (screen.length > 0) lines.push(...this.events.output(p.pane, screen, p));
        }
      } else if (p.piped === false) {
        // tmux closed the pipe: its writer died (a full disk, someone killed it). Open it again;
        // what the pane printed meanwhile was not captured, and that is said loudly.
        this.o.say(
          `PIPE CLOSED: pane ${p.pane}'s output pipe was closed (its writer died); reopened, output printed meanwhile was not captured`,
        );
        await this.pipe(p.pane);
      }
      this.health.watch(
        p,
        this.output.file(p.pane),
        !old ? "new" : p.piped === false ? "closed" : "open",
      );
      if (old && (old.cols !== p.cols || old.rows !== p.rows)) {
        this.panes.set(p.pane, p);
        lines.push(
          ev.event({ ...ev.meta("resize", p.pane, p), size: { cols: p.cols, rows: p.rows } }),
        );
      }
    }
    const live = new Set(now.map((p) => p.pane));
    for (const [pane, p] of this.panes) {
      if (live.has(pane)) continue;
      this.output.read(pane);
      lines.push(...this.flush(pane, true), ev.event(ev.meta("pane-close", pane, p)));
      this.panes.delete(pane);
      this.output.forget(pane);
      this.health.forget(pane);
      if (!now.some((q) => q.window === p.window))
        lines.push(ev.event(ev.meta("window-close", "-", p)));
      if (
        !now.some((q) => q.session === p.session) &&
        ![...this.panes.values()].some((q) => q.session === p.session)
      ) {
        lines.push(ev.event(ev.meta("session-close", "-", p)));
      }
    }
    this.spoolOrUndo(lines, seq, before);
    if (Date.now() - this.hooksChecked >= HOOK_CHECK_MS) {
      this.hooksChecked = Date.now();
      await this.hooks.check();
    }
  }

  /** Output events of what `pane`'s pending output may give now (all of it when `all`). */
  private flush(pane: string, all: boolean): SpoolLine[] {
    const cut = this.output.take(pane, all);
    if (!cut) return [];
    const { data, rawEnd, spans, context } = cut;
    return this.events.output(pane, data, this.panes.get(pane), rawEnd, spans, context);
  }
}
