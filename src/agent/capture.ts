// Capture: turns a tmux server's activity into events in the spool (docs/design.md §7.1).
//
//   output     every pane pipes its output (`pipe-pane -O 'umask 077; exec cat >> <spool>/raw/
//              <server>/<pane>.out'`, set for existing panes at start and for new ones by tmux
//              hooks, so nothing waits for the agent and capture survives an agent restart); the
//              agent tails those files, coalesces per pane (100 ms, 32 KiB), redacts, and appends
//              events to the spool. What a pane already shows when capture starts is recorded
//              with capture-pane.
//   lifecycle  session/window/pane open and close and resize, from polling list-panes;
//              attach/detach from client hooks appending to <spool>/hooks.log.
//   commands   the shell hook appends (pane, line, cwd, exit, start, end) to <spool>/commands.log;
//              line and cwd are redacted like output (commands.ts).
// The tmux hooks sit beside the user's (hooks.ts). Whatever tmux runs for the agent writes under
// `umask 077`, so the spool stays owner-only (private.ts) whatever umask the tmux server has.
//
// Whether output arrives is watched per pane (paneStates, shown by `agent status`): a pane whose
// output pipe tmux closed (its writer died: e.g. it could not write the spool) and that has not
// written to its file since, or whose cursor or history moved while its file did not grow for
// NOT_ARRIVING_MS (someone replaced the pipe), is "output NOT ARRIVING" with the reason.
//
// Memory stays bounded: at most 1 MiB is read per pane per tick, and when the spool holds more
// unacknowledged bytes than its cap the agent stops reading (the raw files keep growing on disk,
// nothing is dropped) and says so loudly.
//
// Longer than most files: one class, because the panes, their pending output and the spool's marks
// change together at each poll; output cutting is output-chunks.ts, pane health pane-health.ts.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
} from "node:fs";
import { join } from "node:path";
import { type EventMeta, makeSubmission } from "../core/events.ts";
import { commandEvent } from "./commands.ts";
import { hookMarker, TmuxHooks } from "./hooks.ts";
import { flushCut, IDLE_FLUSH_MS, lookBack, outputPieces, READ_LIMIT } from "./output-chunks.ts";
import { PaneHealthWatch } from "./pane-health.ts";
import { SPOOL_OPEN } from "./private.ts";
import { type RedactionPattern, secretSpans } from "./redact.ts";
import { type Spool, type SpoolLine, streamKey } from "./spool.ts";
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
  log: (m: string) => void;
}

interface Pending {
  chunks: Buffer[];
  len: number;
  since: number;
  /** Bytes of the raw file read so far (the spool's offset is what became events). */
  readTo: number;
  /** When bytes last arrived. */
  lastData: number;
  /** The last CONTEXT bytes already turned into events (redaction looks back into them). */
  context: Buffer;
}

/** How often the agent checks that its tmux hooks are still there. */
const HOOK_CHECK_MS = 2000;

/** Where a tmux server's panes pipe their output. */
function rawDirOf(spoolDir: string, serverId: string): string {
  return join(spoolDir, "raw", serverId.replace(/[^A-Za-z0-9@._-]/g, "_"));
}

/** Opens a spool file for reading; undefined when it does not exist (yet). */
function openIfExists(file: string): number | undefined {
  try {
    return openSync(file, SPOOL_OPEN.read);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export class Capture {
  private panes = new Map<string, PaneInfo>();
  private pending = new Map<string, Pending>();
  private readonly health = new PaneHealthWatch();
  private readonly rawDir: string;
  private lastCapWarning = 0;
  private readonly hooks: TmuxHooks;
  private hooksChecked = Date.now();

  constructor(private readonly o: CaptureOptions) {
    this.rawDir = rawDirOf(o.spool.dir, o.serverId);
    const existed = existsSync(this.rawDir);
    mkdirSync(this.rawDir, { recursive: true, mode: 0o700 });
    const pipe = `pipe-pane -O ${shq(this.pipeCommand())}`;
    const hooksLog = shq(join(o.spool.dir, "hooks.log"));
    const client = (kind: string) =>
      `run-shell -b ": ${hookMarker(o.spool.dir)}; umask 077; printf '%s\\037%s\\037%s\\037%s\\n' ${kind} #{q:session_id} #{q:client_user} #{q:client_tty} >> ${hooksLog}"`;
    this.hooks = new TmuxHooks(
      o.tmux,
      o.spool.dir,
      [
        ["after-new-session", pipe],
        ["after-new-window", pipe],
        ["after-split-window", pipe],
        ["client-attached", client("attach")],
        ["client-detached", client("detach")],
      ],
      o.log,
    );
    this.adoptMarks(existed);
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
    let files: string[];
    try {
      files = readdirSync(this.rawDir).filter((f) => /^\d+\.out$/.test(f));
    } catch {
      return;
    }
    for (const f of files) {
      const pane = `%${f.slice(0, -4)}`;
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
        const before = this.pending.get(pane)?.readTo;
        this.readRaw(pane);
        const lines = this.flush(pane, true);
        if (lines.length === 0 && this.pending.get(pane)?.readTo === before) break;
        const seq = this.o.spool.mark();
        this.spoolOrUndo(lines, seq, this.panes);
      }
      if (this.o.spool.state.raw[pane] !== undefined) {
        const seq = this.o.spool.mark();
        this.spoolOrUndo([this.event(this.meta("pane-close", pane))], seq, this.panes);
      }
    }
  }

  private rawFile(pane: string): string {
    return join(this.rawDir, `${pane.replace(/[^0-9]/g, "")}.out`);
  }

  /** The writer tmux pipes a pane into (`: <marker>` lets the agent recognise its own hooks). */
  private pipeCommand(): string {
    return `: ${hookMarker(this.o.spool.dir)}; umask 077; exec cat >> ${shq(this.rawDir)}/$(echo '#{pane_id}' | tr -dc 0-9).out`;
  }

  /** Pipes a pane's output into its raw file (tmux replaces an earlier pipe). */
  private pipe(pane: string): Promise<string> {
    return this.o.tmux.cmd(
      "pipe-pane",
      "-O",
      "-t",
      pane,
      this.pipeCommand().replace("#{pane_id}", pane),
    );
  }

  paneIds(): string[] {
    return [...this.panes.keys()];
  }

  /** Per pane: "captured", or "output NOT ARRIVING: <why>". */
  paneStates(now = Date.now()): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pane of this.panes.keys())
      out[pane] = this.health.state(pane, this.rawFile(pane), now);
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
        this.o.log(
          `SPOOL FULL: ${this.o.spool.depth()} unacknowledged bytes exceed the cap of ${this.o.spoolCapBytes}; ` +
            "capture is paused (pane output keeps accumulating in the raw files, nothing is dropped) until the log acknowledges",
        );
      }
      return;
    }
    for (const pane of this.panes.keys()) this.readRaw(pane);
    for (const [pane, p] of this.pending) {
      // Every coalescing period, flush all but a tail that a secret still being printed could be
      // in; once the pane has been quiet for IDLE_FLUSH_MS, flush the tail too.
      const idle = now - p.lastData >= IDLE_FLUSH_MS;
      if (p.len > 0 && (idle || p.len >= this.o.maxChunk || now - p.since >= this.o.coalesceMs)) {
        lines.push(...this.flush(pane, idle));
      }
    }
    lines.push(...this.readHooks(), ...this.readCommands());
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
      this.pending.clear();
      throw new Error(`${(e as Error).message}; capture retries from what was last spooled`);
    }
  }

  private meta(
    type: EventMeta["type"],
    pane: string,
    info?: { session: string; window: string },
    time = new Date(),
  ) {
    const server = this.o.serverId;
    return {
      v: 1 as const,
      host: this.o.host,
      server,
      session: info?.session ?? "-",
      window: info?.window ?? "-",
      pane,
      user: this.o.user,
      seq: this.o.spool.nextSeq(streamKey({ host: this.o.host, server, pane })),
      time: time.toISOString(),
      type,
    };
  }

  private event(
    meta: ReturnType<Capture["meta"]> & Record<string, unknown>,
    content?: Buffer,
    raw?: SpoolLine["raw"],
  ): SpoolLine {
    const sub = makeSubmission(
      meta as EventMeta,
      content,
      new Uint8Array(randomBytes(32)),
    ) as SpoolLine["sub"];
    return raw ? { sub, raw } : { sub };
  }

  /** Polls list-panes: new panes are piped and announced, gone ones closed. */
  async discover(initial = false): Promise<void> {
    const now = await this.o.tmux.panes();
    const lines: SpoolLine[] = [];
    const seq = this.o.spool.mark();
    const before = new Map(this.panes);
    // What was announced is remembered in the spool (raw marks), so a restarted agent does not
    // announce the same sessions, windows and panes again.
    const seen = (mark: string) =>
      this.o.spool.state.raw[mark] !== undefined || lines.some((l) => l.raw?.pane === mark);
    for (const p of now) {
      const old = this.panes.get(p.pane);
      if (!old) {
        if (!seen(`#session:${p.session}`)) {
          lines.push(
            this.event({ ...this.meta("session-open", "-", p), name: p.sessionName }, undefined, {
              pane: `#session:${p.session}`,
              end: 0,
            }),
          );
        }
        if (!seen(`#window:${p.window}`)) {
          lines.push(
            this.event(this.meta("window-open", "-", p), undefined, {
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
            this.event(
              { ...this.meta("pane-open", p.pane, p), size: { cols: p.cols, rows: p.rows } },
              undefined,
              { pane: p.pane, end: 0 },
            ),
          );
        }
        if (initial && !known) {
          // What the pane already shows: recorded once, when capture first starts on it.
          const screen = await this.o.tmux.capture(p.pane);
          if (screen.length > 0) lines.push(...this.chunks(p.pane, screen, p));
        }
      } else if (p.piped === false) {
        // tmux closed the pipe: its writer died (a full disk, someone killed it). Open it again;
        // what the pane printed meanwhile was not captured, and that is said loudly.
        this.o.log(
          `PIPE CLOSED: pane ${p.pane}'s output pipe was closed (its writer died); reopened, output printed meanwhile was not captured`,
        );
        await this.pipe(p.pane);
      }
      this.health.watch(
        p,
        this.rawFile(p.pane),
        !old ? "new" : p.piped === false ? "closed" : "open",
      );
      if (old && (old.cols !== p.cols || old.rows !== p.rows)) {
        this.panes.set(p.pane, p);
        lines.push(
          this.event({ ...this.meta("resize", p.pane, p), size: { cols: p.cols, rows: p.rows } }),
        );
      }
    }
    const live = new Set(now.map((p) => p.pane));
    for (const [pane, p] of this.panes) {
      if (live.has(pane)) continue;
      this.readRaw(pane);
      lines.push(...this.flush(pane, true), this.event(this.meta("pane-close", pane, p)));
      this.panes.delete(pane);
      this.pending.delete(pane);
      this.health.forget(pane);
      if (!now.some((q) => q.window === p.window))
        lines.push(this.event(this.meta("window-close", "-", p)));
      if (
        !now.some((q) => q.session === p.session) &&
        ![...this.panes.values()].some((q) => q.session === p.session)
      ) {
        lines.push(this.event(this.meta("session-close", "-", p)));
      }
    }
    this.spoolOrUndo(lines, seq, before);
    if (Date.now() - this.hooksChecked >= HOOK_CHECK_MS) {
      this.hooksChecked = Date.now();
      await this.hooks.check();
    }
  }

  private readRaw(pane: string): void {
    const fd = openIfExists(this.rawFile(pane));
    if (fd === undefined) return;
    try {
      this.readRawFd(pane, fd);
    } finally {
      closeSync(fd);
    }
  }

  private readRawFd(pane: string, fd: number): void {
    const size = fstatSync(fd).size;
    let p = this.pending.get(pane);
    if (!p) {
      p = {
        chunks: [],
        len: 0,
        since: Date.now(),
        readTo: this.o.spool.state.raw[pane] ?? 0,
        lastData: 0,
        context: Buffer.alloc(0),
      };
      this.pending.set(pane, p);
    }
    if (size <= p.readTo || p.len >= READ_LIMIT) return;
    const buf = Buffer.alloc(Math.min(size - p.readTo, READ_LIMIT - p.len));
    const n = readSync(fd, buf, 0, buf.length, p.readTo);
    if (p.len === 0) p.since = Date.now();
    if (n > 0) p.lastData = Date.now();
    p.chunks.push(buf.subarray(0, n));
    p.len += n;
    p.readTo += n;
  }

  /**
   * Turns a pane's pending output into events. Unless `all`, holds back an unfinished private-key
   * block and the last HOLD_BACK bytes; no chunk boundary ever falls inside a secret.
   */
  private flush(pane: string, all: boolean): SpoolLine[] {
    const p = this.pending.get(pane);
    if (!p || p.len === 0) return [];
    const data = Buffer.concat(p.chunks);
    const spans = secretSpans(
      data.toString("latin1"),
      this.o.patterns,
      p.context.toString("latin1"),
    );
    const cut = flushCut(data, spans, all);
    const keep = data.subarray(cut);
    p.chunks = keep.length ? [Buffer.from(keep)] : [];
    p.len = keep.length;
    if (cut === 0) return [];
    const info = this.panes.get(pane);
    const context = p.context;
    p.context = Buffer.from(lookBack(context, data.subarray(0, cut)));
    return this.chunks(pane, data.subarray(0, cut), info, p.readTo - keep.length, spans, context);
  }

  /** Output events of `data` (see output-chunks.ts); `rawEnd` is the raw file's offset after it. */
  private chunks(
    pane: string,
    data: Buffer,
    info?: PaneInfo,
    rawEnd?: number,
    known?: [number, number][],
    context: Buffer = Buffer.alloc(0),
  ): SpoolLine[] {
    const pieces = outputPieces(data, this.o.patterns, this.o.maxChunk, known, context);
    return pieces.map(({ content, redactions, end }) => {
      const raw = rawEnd === undefined ? undefined : { pane, end: rawEnd - (data.length - end) };
      const meta = {
        ...this.meta("output", pane, info),
        ...(redactions.length ? { redactions } : {}),
      };
      return this.event(meta, content, raw);
    });
  }

  /** Complete new lines of hooks.log or commands.log, each with the file offset after it. */
  private tailLines(
    name: "hooks" | "commands",
    encoding: "utf8" | "latin1",
  ): { line: string; end: number }[] {
    const mark = `#${name}`;
    const fd = openIfExists(join(this.o.spool.dir, `${name}.log`));
    if (fd === undefined) return [];
    const from = this.o.spool.state.raw[mark] ?? 0;
    let n: number;
    let buf: Buffer;
    try {
      const size = fstatSync(fd).size;
      if (size <= from) return [];
      buf = Buffer.alloc(Math.min(size - from, READ_LIMIT));
      n = readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    const out: { line: string; end: number }[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < n; nl = buf.indexOf(10, start)) {
      out.push({ line: buf.subarray(start, nl).toString(encoding), end: from + nl + 1 });
      start = nl + 1;
    }
    return out;
  }

  private readHooks(): SpoolLine[] {
    return this.tailLines("hooks", "utf8").flatMap(({ line, end }) => {
      const [kind, session, user, tty] = line.split("\u001f");
      if ((kind !== "attach" && kind !== "detach") || !session) return [];
      const meta = {
        ...this.meta(kind, "-", { session, window: "-" }),
        client: { user: user || "-", tty: tty || "-" },
      };
      return [this.event(meta, undefined, { pane: "#hooks", end })];
    });
  }

  private readCommands(): SpoolLine[] {
    // latin1: the record parser reads the fields' bytes (command-record.ts).
    return this.tailLines("commands", "latin1").flatMap(({ line, end: offset }) => {
      const c = commandEvent(line, this.o.patterns);
      if (!c) return [];
      // A command of a pane that closed since is still recorded, without its session.
      const info = this.panes.get(c.pane) ?? { session: "-", window: "-" };
      const meta = {
        ...this.meta("command", c.pane, info),
        ...(c.redactions.length ? { redactions: c.redactions } : {}),
      };
      return [this.event(meta, c.content, { pane: "#commands", end: offset })];
    });
  }
}
