// The raw output files of one tmux server's panes, and how far each has been read.
//
// Each pane pipes its output into <spool>/raw/<server>/<N>.out (pane %N). tmux runs the writer,
// `: <marker>; umask 077; exec cat >> <file>` (pipeCommand), set for existing panes at start and
// for new ones by tmux hooks, so nothing waits for the agent and capture survives an agent
// restart; `umask 077` keeps the files owner-only (private.ts) whatever umask the server has.
//
// The spool's mark for a pane (state.raw[pane]) is the file offset up to which its output became
// events: a restarted agent reads on from there, so nothing is spooled twice or skipped. What was
// read beyond the mark is pending until `take` cuts it into what may become events now
// (output-chunks.ts: never inside a secret) and what waits. At most READ_LIMIT (1 MiB) is pending
// per pane, so memory stays bounded however fast a pane prints; `clear` drops everything pending,
// and the next read starts again from the marks.

import { closeSync, existsSync, fstatSync, mkdirSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { hookMarker } from "./hooks.ts";
import { flushCut, IDLE_FLUSH_MS, lookBack, READ_LIMIT } from "./output-chunks.ts";
import { openIfExists } from "./private.ts";
import { type RedactionPattern, secretSpans } from "./redact.ts";
import type { Spool } from "./spool.ts";
import { shq } from "./tmux.ts";

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

/** Output that may become events now: `data`, ending at offset `rawEnd` of the raw file. */
export interface OutputCut {
  data: Buffer;
  rawEnd: number;
  /** The secrets found in `data` (and maybe past it). */
  spans: [number, number][];
  /** The bytes before `data` that redaction looks back into. */
  context: Buffer;
}

/** Where a tmux server's panes pipe their output. */
function rawDirOf(spoolDir: string, serverId: string): string {
  return join(spoolDir, "raw", serverId.replace(/[^A-Za-z0-9@._-]/g, "_"));
}

export class PaneOutput {
  readonly dir: string;
  /** Whether the raw directory was there before (Capture.adoptMarks). */
  readonly existed: boolean;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly spool: Spool,
    serverId: string,
    private readonly patterns: RedactionPattern[],
  ) {
    this.dir = rawDirOf(spool.dir, serverId);
    this.existed = existsSync(this.dir);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  file(pane: string): string {
    return join(this.dir, `${pane.replace(/[^0-9]/g, "")}.out`);
  }

  /** The writer tmux pipes a pane into (`: <marker>` lets the agent recognise its own hooks). */
  pipeCommand(): string {
    return `: ${hookMarker(this.spool.dir)}; umask 077; exec cat >> ${shq(this.dir)}/$(echo '#{pane_id}' | tr -dc 0-9).out`;
  }

  /** The panes that have a raw file here (of a server that is gone, for Capture.finishLeftovers). */
  filePanes(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((f) => /^\d+\.out$/.test(f))
        .map((f) => `%${f.slice(0, -4)}`);
    } catch {
      return [];
    }
  }

  /** How far `pane`'s file has been read, when anything of it is pending. */
  readTo(pane: string): number | undefined {
    return this.pending.get(pane)?.readTo;
  }

  /** Reads what `pane`'s file holds beyond what was read, up to READ_LIMIT pending. */
  read(pane: string): void {
    const fd = openIfExists(this.file(pane));
    if (fd === undefined) return;
    try {
      this.readFd(pane, fd);
    } finally {
      closeSync(fd);
    }
  }

  private readFd(pane: string, fd: number): void {
    const size = fstatSync(fd).size;
    let p = this.pending.get(pane);
    if (!p) {
      p = {
        chunks: [],
        len: 0,
        since: Date.now(),
        readTo: this.spool.state.raw[pane] ?? 0,
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
   * The panes whose pending output is due, with whether all of it is: every coalescing period
   * (or at `maxChunk` bytes), all but a tail that a secret still being printed could be in; once
   * the pane has been quiet for IDLE_FLUSH_MS, the tail too.
   */
  due(now: number, coalesceMs: number, maxChunk: number): [pane: string, all: boolean][] {
    const out: [string, boolean][] = [];
    for (const [pane, p] of this.pending) {
      const idle = now - p.lastData >= IDLE_FLUSH_MS;
      if (p.len > 0 && (idle || p.len >= maxChunk || now - p.since >= coalesceMs)) {
        out.push([pane, idle]);
      }
    }
    return out;
  }

  /**
   * Takes from `pane`'s pending output what may become events now. Unless `all`, holds back an
   * unfinished private-key block and the last HOLD_BACK bytes; no cut ever falls inside a secret.
   */
  take(pane: string, all: boolean): OutputCut | undefined {
    const p = this.pending.get(pane);
    if (!p || p.len === 0) return undefined;
    const data = Buffer.concat(p.chunks);
    const spans = secretSpans(data.toString("latin1"), this.patterns, p.context.toString("latin1"));
    const cut = flushCut(data, spans, all);
    const keep = data.subarray(cut);
    p.chunks = keep.length ? [Buffer.from(keep)] : [];
    p.len = keep.length;
    if (cut === 0) return undefined;
    const context = p.context;
    p.context = Buffer.from(lookBack(context, data.subarray(0, cut)));
    return { data: data.subarray(0, cut), rawEnd: p.readTo - keep.length, spans, context };
  }

  /** Forgets a closed pane. */
  forget(pane: string): void {
    this.pending.delete(pane);
  }

  /** Drops everything pending: the next reads start again from the spool's marks. */
  clear(): void {
    this.pending.clear();
  }
}
