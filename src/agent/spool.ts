// The agent's durable spool. An event counts as captured only once its line is appended to
// events.jsonl and fsynced; it leaves the spool only after the log acknowledged it.
//
//   events.jsonl   one line per event: {"sub": <submission with content and salt>, "raw"?: {pane, end}}
//                  (the salt is chosen once, here, so a retry sends the identical event)
//   state.json     written atomically (tmp, fsync, rename): how many lines it covers, how many are
//                  acknowledged, the next seq per stream and how far each pane's raw output file
//                  has been turned into events
//   receipts.jsonl (index, leaf hash) of every acknowledged event, for the inclusion checks
//
// Recovery: state.json, then every line past `lines` re-applied (seq and raw offsets only grow),
// so a crash between an append and a state write loses nothing and duplicates nothing.
//
// The spool holds what was captured before redaction: it is owner-only (private.ts), including
// hooks.log and commands.log, created here before tmux or a shell hook could create them.
// Just over 300 lines: the append, the recovery and the marks share one state file and one rule
// (offsets only grow), so they stay together.

import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-file.ts";
import { makeSpoolPrivate, SPOOL_OPEN, touchPrivate } from "./private.ts";

export interface SpoolState {
  lines: number;
  acked: number;
  seq: Record<string, number>;
  raw: Record<string, number>;
  /** Byte offset of line `acked` in events.jsonl (where sending resumes). */
  ackedOffset: number;
  /**
   * The tmux server the pane, window and session marks in `raw` belong to (a new server reuses
   * %0, @0, $0 and starts its raw files empty); undefined in a spool from before it was kept.
   */
  rawServer?: string;
}

export interface SpoolLine {
  sub: Record<string, unknown> & { host: string; server: string; pane: string; seq: number };
  raw?: { pane: string; end: number };
}

export class Spool {
  state: SpoolState;
  /** The spool directory's real path. */
  readonly dir: string;
  private fd: number;
  private readonly eventsPath: string;
  private readonly statePath: string;
  /** Bytes in events.jsonl. */
  private size: number;

  /** Opens (or creates) the spool; refuses one another user could read or replace (private.ts). */
  constructor(dir: string, say: (m: string) => void = console.error) {
    this.dir = makeSpoolPrivate(dir, say);
    mkdirSync(join(this.dir, "raw"), { recursive: true, mode: 0o700 });
    for (const f of ["hooks.log", "commands.log"]) touchPrivate(join(this.dir, f));
    this.eventsPath = join(this.dir, "events.jsonl");
    this.statePath = join(this.dir, "state.json");
    const saved = readIfExists(this.statePath);
    this.state = saved
      ? (JSON.parse(saved) as SpoolState)
      : { lines: 0, acked: 0, seq: {}, raw: {}, ackedOffset: 0 };
    this.fd = openSync(this.eventsPath, SPOOL_OPEN.readAppend, 0o600);
    this.size = fstatSync(this.fd).size;
    this.recover();
  }

  private recover(): void {
    if (this.size === 0) {
      this.state.lines = 0;
      this.state.acked = 0;
      this.state.ackedOffset = 0;
      return;
    }
    const text = readFileSync(this.fd, "utf8");
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    // A torn last line (a crash or a full disk mid-append: never fsynced whole) was never counted
    // as captured: cut it off, so the next append starts on a line of its own.
    let complete = lines.length;
    let torn = !text.endsWith("\n");
    try {
      if (lines.length) JSON.parse(lines[lines.length - 1]!);
    } catch {
      torn = true;
    }
    if (torn) {
      complete--;
      const keep = Buffer.byteLength(
        lines
          .slice(0, complete)
          .map((l) => `${l}\n`)
          .join(""),
      );
      ftruncateSync(this.fd, keep);
      fsyncSync(this.fd);
      this.size = keep;
    }
    for (let i = Math.min(this.state.lines, complete); i < complete; i++)
      this.apply(JSON.parse(lines[i]!) as SpoolLine);
    this.state.lines = complete;
  }

  private apply(l: SpoolLine): void {
    const key = streamKey(l.sub);
    this.state.seq[key] = Math.max(this.state.seq[key] ?? 0, l.sub.seq + 1);
    if (l.raw) this.state.raw[l.raw.pane] = Math.max(this.state.raw[l.raw.pane] ?? 0, l.raw.end);
  }

  nextSeq(key: string): number {
    const s = this.state.seq[key] ?? 0;
    this.state.seq[key] = s + 1;
    return s;
  }

  /** The sequence counters, to restore when the events that took numbers could not be spooled. */
  mark(): Record<string, number> {
    return { ...this.state.seq };
  }

  restore(seq: Record<string, number>): void {
    this.state.seq = { ...seq };
  }

  /**
   * Appends events and fsyncs: from here on they are captured. All or nothing: on any failure
   * (a full disk) the file is cut back to where it was and the error thrown, so the caller can
   * capture the same output again later.
   */
  append(lines: SpoolLine[]): void {
    if (lines.length === 0) return;
    const text = Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
    try {
      for (let off = 0; off < text.length; ) {
        off += writeSync(this.fd, text, off, text.length - off, this.size + off);
      }
      fsyncSync(this.fd);
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // recover() cuts a torn tail at the next start
      }
      throw new SpoolWriteError(
        `cannot write the spool ${this.eventsPath}: ${(e as Error).message}`,
      );
    }
    this.size += text.length;
    for (const l of lines) this.apply(l);
    this.state.lines += lines.length;
    try {
      this.saveState();
    } catch {
      // The events are durable; recovery re-applies lines past the last saved state.
    }
  }

  /** Unacknowledged lines from the first one, at most `max` lines / `maxBytes`. */
  pending(max: number, maxBytes: number): { lines: SpoolLine[]; bytes: number } {
    if (this.state.acked >= this.state.lines) return { lines: [], bytes: 0 };
    const buf = Buffer.alloc(Math.min(maxBytes, this.size - this.state.ackedOffset));
    const fd = openSync(this.eventsPath, SPOOL_OPEN.read);
    try {
      const n = (() => {
        let read = 0;
        while (read < buf.length) {
          const r = readSync(fd, buf, read, buf.length - read, this.state.ackedOffset + read);
          if (r === 0) break;
          read += r;
        }
        return read;
      })();
      const text = buf.subarray(0, n).toString("utf8");
      const out: SpoolLine[] = [];
      let bytes = 0;
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0 || out.length >= max) break;
        out.push(JSON.parse(text.slice(start, nl)) as SpoolLine);
        bytes += Buffer.byteLength(text.slice(start, nl + 1));
        start = nl + 1;
      }
      return { lines: out, bytes };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * How many unacknowledged events each host holds, read in chunks (the spool may be large). A
   * spooled event keeps the host it was recorded with: it is never rewritten.
   */
  pendingHosts(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.state.acked >= this.state.lines) return out;
    const fd = openSync(this.eventsPath, SPOOL_OPEN.read);
    try {
      const buf = Buffer.alloc(4 * 1024 * 1024);
      let pos = this.state.ackedOffset;
      let rest = Buffer.alloc(0);
      let seen = 0;
      while (pos < this.size && seen < this.state.lines - this.state.acked) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, this.size - pos), pos);
        if (n === 0) break;
        pos += n;
        let data = Buffer.concat([rest, buf.subarray(0, n)]);
        for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
          const host = (JSON.parse(data.subarray(0, nl).toString("utf8")) as SpoolLine).sub.host;
          out.set(host, (out.get(host) ?? 0) + 1);
          seen++;
          data = data.subarray(nl + 1);
        }
        rest = Buffer.from(data);
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }

  /** Marks the first `count` pending lines (`bytes` long) acknowledged, with their receipts. */
  ack(count: number, bytes: number, receipts: { index: number; leafHash: string }[]): void {
    if (receipts.length > 0) {
      const fd = openSync(join(this.dir, "receipts.jsonl"), SPOOL_OPEN.readAppend, 0o600);
      // A torn last line (a crash mid-append; those events were not acked and come back as
      // duplicates) is ended first, so the readers skip it and the next receipt stands alone.
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10;
      writeSync(fd, (torn ? "\n" : "") + receipts.map((r) => `${JSON.stringify(r)}\n`).join(""));
      fsyncSync(fd);
      closeSync(fd);
    }
    this.state.acked += count;
    this.state.ackedOffset += bytes;
    this.saveState();
    this.compact();
  }

  /** Unacknowledged bytes (the spool depth). */
  depth(): number {
    return this.size - this.state.ackedOffset;
  }

  private compact(): void {
    if (this.state.acked < this.state.lines || this.size < 1024 * 1024) return;
    // Everything is acknowledged: state first (0 lines), then truncate. A crash in between
    // re-applies old lines (seq and offsets only grow) and resends them (the log dedups).
    this.state.lines = 0;
    this.state.acked = 0;
    this.state.ackedOffset = 0;
    this.saveState();
    closeSync(this.fd);
    this.fd = openSync(this.eventsPath, SPOOL_OPEN.write, 0o600);
    fsyncSync(this.fd);
    this.size = 0;
  }

  saveState(): void {
    writeFileAtomic(this.statePath, JSON.stringify(this.state));
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class SpoolWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolWriteError";
  }
}

/** A spool file's text, or undefined when it does not exist (never through a symbolic link). */
export function readIfExists(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, SPOOL_OPEN.read);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

export function streamKey(s: { host: string; server: string; pane: string }): string {
  return `${s.host}\u0000${s.server}\u0000${s.pane}`;
}
