// A lock file naming the process that holds it: the embedded database's data directory
// (db/storage.ts) and a mirror's directory (client/mirror-files.ts) are each held by one
// process through it. What it guarantees, and how:
//
//   - Taken atomically. The owner line is written whole into a temporary file, which is then
//     linked into place: link(2) fails if the lock exists, so of any number of processes starting
//     at once exactly one takes a free lock, and a reader never sees a half-written lock (an
//     exclusive create followed by a write let a second process read an empty lock, judge it
//     ownerless and delete it while its owner went on).
//   - A lock is replaced only when its owner is certainly gone: no such process, a zombie (it
//     has exited and closed everything; its parent has not reaped it yet, which a supervisor's
//     restart right after `kill -9` meets on a machine whose init reaps slowly), a process that
//     reuses the pid (its start time differs) or one from before a reboot (another boot id).
//     A lock whose owner cannot be read (empty, garbage, unreadable) is never removed: the error
//     names the file for a person to check.
//   - Replacing a dead owner's lock is itself serialised: the replacer first takes
//     `<lock>.takeover` (by the same rules, recursively), checks the lock is still the very file
//     it judged dead (same bytes, same inode), and renames its claim over it, which installs its
//     own lock and frees the claim in one step. Two processes that both found the owner dead can
//     therefore never both win (deleting and re-creating let the slower one delete the faster
//     one's fresh lock).
//
// The file: `<pid>\n<boot id> <start time>\n` (the second line on Linux; a lock of an older
// version holds the first line only and is judged by its pid alone).
//
// Not covered: processes in different pid namespaces sharing the directory (containers sharing a
// volume); their pids mean nothing to each other.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";

interface Owner {
  pid: number;
  /** The kernel's boot id and the process's start time (clock ticks since boot); Linux only. */
  boot?: string;
  start?: string;
}

interface Seen {
  text: string;
  ino: number;
  owner?: Owner;
}

/** How long to wait for another process that is replacing a dead owner's lock. */
const WAIT_MS = 3000;
/** Claims on claims: each level needs a process to die inside the previous one's few microseconds. */
const MAX_DEPTH = 4;

const readProc = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** State and start time (fields 3 and 22 of /proc/<pid>/stat); undefined without /proc. */
function procStat(pid: number): { state: string; start: string } | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: the fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", start: fields[19] ?? "" };
}

const bootId = () => readProc("/proc/sys/kernel/random/boot_id")?.trim();

function self(): Owner {
  const stat = procStat(process.pid);
  const boot = bootId();
  return stat && boot ? { pid: process.pid, boot, start: stat.start } : { pid: process.pid };
}

const format = (o: Owner) => `${o.pid}\n${o.boot ? `${o.boot} ${o.start}\n` : ""}`;

function parse(text: string): Owner | undefined {
  const m = /^([1-9][0-9]{0,9})\n(?:([0-9a-f-]{36}) ([0-9]{1,20})\n)?$/.exec(text);
  if (!m) return undefined;
  return m[2] ? { pid: Number(m[1]), boot: m[2], start: m[3] } : { pid: Number(m[1]) };
}

const sameProcess = (a: Owner, b: Owner) =>
  a.pid === b.pid && (a.start === undefined || b.start === undefined || a.start === b.start);

/** Whether the lock's owner has certainly exited (see the file header). */
export function ownerGone(o: Owner): boolean {
  if (o.boot !== undefined && bootId() !== undefined && o.boot !== bootId()) return true;
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    // EPERM: a process of another user holds that pid; it exists.
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return true;
  }
  const stat = procStat(o.pid);
  if (stat === undefined) return false; // no /proc (or hidden): the signal said it exists
  if (o.start !== undefined && stat.start !== o.start) return true; // the pid was reused
  if (stat.state === "X") return true;
  if (stat.state === "Z") {
    // A zombie leader whose other threads still run is alive; a process that has exited has one.
    const threads = /^Threads:\s*(\d+)$/m.exec(readProc(`/proc/${o.pid}/status`) ?? "");
    return threads === null || Number(threads[1]) <= 1;
  }
  return false;
}

/** The lock's bytes, inode and owner; undefined when there is no lock. */
function inspect(path: string): Seen | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    return { text: `(cannot open it: ${code})`, ino: -1 };
  }
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString("latin1");
    return { text, ino: fstatSync(fd).ino, owner: parse(text) };
  } finally {
    closeSync(fd);
  }
}

type Attempt =
  | { taken: true }
  | {
      taken: false;
      owner?: Owner;
      unreadable?: Seen & { path: string };
      busy?: boolean;
      mine?: boolean;
    };

/**
 * One attempt to put `ours` (a temporary file holding our owner line) in place as `path`: a hard
 * link when `path` is free; when its owner is gone, through the claim `<path>.takeover` (taken by
 * the same rules), renamed over the dead owner's lock once it is checked to be still that file.
 */
function attempt(path: string, ours: string, me: Owner, depth: number): Attempt {
  try {
    linkSync(ours, path);
    return { taken: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const seen = inspect(path);
  if (!seen) return { taken: false, busy: true }; // released meanwhile: try again
  if (!seen.owner) return { taken: false, unreadable: { ...seen, path } };
  if (sameProcess(seen.owner, me)) return { taken: false, owner: seen.owner, mine: true };
  if (!ownerGone(seen.owner)) return { taken: false, owner: seen.owner };
  if (depth >= MAX_DEPTH) return { taken: false, owner: seen.owner };
  // The owner is gone: replace its lock, holding the claim on replacing it.
  const claim = `${path}.takeover`;
  const c = attempt(claim, ours, me, depth + 1);
  if (!c.taken) {
    if (c.unreadable) return c;
    // Another process is replacing it (or its claim is stuck): name that one if it says so.
    return { taken: false, busy: true, owner: c.owner ?? seen.owner };
  }
  const again = inspect(path);
  if (again?.text === seen.text && again.ino === seen.ino) {
    renameSync(claim, path); // our lock in place of the dead one, and the claim freed
    return { taken: true };
  }
  unlinkSync(claim); // someone else replaced it first: look again
  return { taken: false, busy: true };
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A lock whose owner cannot be read: never removed automatically. */
export class UnreadableLockError extends Error {
  constructor(file: string, text: string) {
    super(
      `the lock ${file} names no owner this process can read (${JSON.stringify(text.slice(0, 60))}); it is never removed automatically: if no process uses it, remove it by hand`,
    );
    this.name = "UnreadableLockError";
  }
}

/**
 * Takes `file` for this process and returns the release function. A lock held by a live process
 * (this one too, unless `reentrant`) throws `held(pid)`; an unreadable one UnreadableLockError.
 */
export function takePidLock(
  file: string,
  opts: { mode: number; reentrant?: boolean; held: (pid?: string) => Error },
): () => void {
  const me = self();
  const text = format(me);
  const release = () => {
    if (inspect(file)?.text === text) rmSync(file, { force: true });
  };
  const tmp = `${file}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, text, { mode: opts.mode, flag: "wx" });
  try {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const r = attempt(file, tmp, me, 0);
      if (r.taken) return release;
      if (r.unreadable) throw new UnreadableLockError(r.unreadable.path, r.unreadable.text);
      if (r.mine) {
        if (opts.reentrant) return release;
        throw opts.held(String(me.pid));
      }
      if (!r.busy) throw opts.held(r.owner ? String(r.owner.pid) : undefined);
      if (Date.now() > deadline) throw opts.held(r.owner ? String(r.owner.pid) : undefined);
      sleep(5 + Math.random() * 10);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}
