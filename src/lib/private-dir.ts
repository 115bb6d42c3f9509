// Owner-only directories for what the log and the witness keep on disk (docs/design.md §4.7): the
// data directory holds the signer key, the admin token and the embedded database (every recorded
// event, payloads included, and the WAL with everything written lately), so no other user of the
// host may read or change anything in it.
//
//   - The process runs with umask 077 (`privateDataDir`): whatever it creates is 0700 or 0600 at
//     birth. `serve` and `witness` create nothing meant for other users; the embedded database
//     masks the modes it sets itself (src/db/owner-only-fs.ts), since a umask does not bind chmod.
//   - At every start the directory is checked top-down. Each directory is opened without
//     following a symbolic link, must be ours, and is tightened to 0700 *before* its entries are
//     listed, so no other user can add, swap or link anything in it while we look. Every entry
//     must be ours and no symbolic link (one planted by another user would make the log write its
//     database or key where that user chose). Files wider than 0600 are tightened. Everything
//     tightened is named in one warning.
//   - The directories above it must not let another user replace it: none may be writable by
//     others without the sticky bit, or owned by another user (root excepted).
//   - A file with other hard links is named in the warning, not refused: its mode is the inode's,
//     so tightening it closes the other name too.
//
// Not covered: a process of another user that opened a file while it was readable keeps its
// descriptor; move such a directory aside (or restore it from a backup) and rotate the secrets.

import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
} from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY } = constants;

/** The directory cannot be used safely: the process refuses to start. */
export class PrivateDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PrivateDirError";
  }
}

export interface PrivateDirOptions {
  /** What it is, for messages: "data directory". */
  what: string;
  /** The flag that names it, for the hint on a symbolic link: "--data". */
  flag: string;
  /** What it holds, for the warning: "the signer key, the admin token and the database". */
  holds: string;
  say: (m: string) => void;
  /** A file with other hard links: named in a warning (default), or refused. */
  hardLinks?: "warn" | "refuse";
  /** The warning's first word (default "PERMISSIONS"). */
  label?: string;
}

const uid = () => process.getuid?.() ?? 0;
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

/**
 * For `serve` and `witness` (and `audit` on an embedded database): from now on this process
 * creates only owner-only files, and its data directory is created owner-only, or checked and
 * tightened (see the file header).
 */
export function privateDataDir(dir: string, say: (m: string) => void): void {
  // Acceptable for the whole process: everything it writes (database, WAL, keys, tokens, a web
  // UI built on first start) is its own; nothing it creates is meant for another user.
  process.umask(0o077);
  makePrivateDir(dir, {
    what: "data directory",
    flag: "--data",
    holds: "signer key, admin token and database with every recorded event",
    say,
  });
}

/**
 * Creates `dir` owner-only, or checks and tightens it; warns about everything it tightened.
 * Returns its real path.
 */
export function makePrivateDir(dir: string, opts: PrivateDirOptions): string {
  const wanted = resolve(dir);
  mkdirSync(dirname(wanted), { recursive: true, mode: 0o700 });
  const parent = realpathSync(dirname(wanted));
  checkAncestors(parent, dir, opts);
  const real = join(parent, basename(wanted));
  try {
    mkdirSync(real, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const tightened: string[] = [];
  const linked: string[] = [];
  const open = { toOthers: false };
  tighten(real, real, opts, tightened, linked, open);
  const list = (items: string[]) =>
    `${items.slice(0, 10).join(", ")}${items.length > 10 ? ` and ${items.length - 10} more` : ""}`;
  if (tightened.length > 0) {
    opts.say(
      // Files are also made not executable: a data file left executable alone is not "open".
      `${opts.label ?? "PERMISSIONS"}: the ${opts.what} ${real} ${open.toOthers ? "was open to other users" : "held files marked executable"} (it holds the ${opts.holds}); tightened to owner-only: ${list(tightened)}`,
    );
  }
  if (linked.length > 0) {
    opts.say(
      `${opts.label ?? "PERMISSIONS"}: in the ${opts.what} ${real}, files with other hard links (now owner-only under every name; find the other names with find -samefile): ${list(linked)}`,
    );
  }
  return real;
}

function checkAncestors(parent: string, given: string, opts: PrivateDirOptions): void {
  for (let d = parent; ; d = dirname(d)) {
    const st = lstatSync(d);
    const open = (st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0;
    if (open || (st.uid !== uid() && st.uid !== 0)) {
      throw new PrivateDirError(
        `refusing the ${opts.what} ${given}: ${d} is ${open ? "writable by every user (and not sticky)" : `owned by uid ${st.uid}`}, so another user could replace it`,
      );
    }
    if (d === dirname(d)) return;
  }
}

/** Checks one directory (opened without following a link), tightens it, then its entries. */
function tighten(
  path: string,
  root: string,
  opts: PrivateDirOptions,
  tightened: string[],
  linked: string[],
  open: { toOthers: boolean },
): void {
  const name = relative(root, path) || ".";
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    // Linux answers ENOTDIR for a symbolic link opened with O_DIRECTORY | O_NOFOLLOW.
    const code = (e as NodeJS.ErrnoException).code;
    if (gone(e) && name !== ".") return;
    if (code === "ELOOP" || (code === "ENOTDIR" && lstatSync(path).isSymbolicLink()))
      throw refused(
        root,
        name,
        `is a symbolic link${name === "." ? ` (if it is yours, give ${opts.flag} its target)` : ""}`,
        opts,
      );
    if (code === "ENOTDIR") throw refused(root, name, "is not a directory", opts);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.uid !== uid())
      throw refused(root, name, `is owned by uid ${st.uid}, not ${uid()}`, opts);
    if ((st.mode & 0o077) !== 0) {
      fchmodSync(fd, 0o700);
      open.toOthers = true;
      tightened.push(`${name === "." ? "the directory" : `${name}/`} ${octal(st.mode)}→0700`);
    }
  } finally {
    closeSync(fd);
  }
  for (const entry of readdirSync(path)) {
    const p = join(path, entry);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch (e) {
      if (gone(e)) continue;
      throw e;
    }
    const what = relative(root, p);
    if (st.isSymbolicLink()) throw refused(root, what, "is a symbolic link", opts);
    if (st.uid !== uid())
      throw refused(root, what, `is owned by uid ${st.uid}, not ${uid()}`, opts);
    if (st.isDirectory()) {
      tighten(p, root, opts, tightened, linked, open);
      continue;
    }
    if (st.isFile() && st.nlink > 1) {
      if (opts.hardLinks === "refuse")
        throw refused(root, what, `has ${st.nlink} hard links`, opts);
      linked.push(`${what} (${st.nlink} links)`);
    }
    if ((st.mode & 0o177) !== 0) {
      // By path: its directory is already ours and 0700, so no one else can swap the entry.
      try {
        chmodSync(p, st.mode & 0o600);
      } catch (e) {
        if (gone(e)) continue;
        throw e;
      }
      if ((st.mode & 0o077) !== 0) open.toOthers = true;
      tightened.push(`${what} ${octal(st.mode)}→${octal(st.mode & 0o600)}`);
    }
  }
}

/**
 * A file removed while we walk: only the process that holds the directory (a running log whose
 * database deletes a WAL segment; a second start is then refused by the lock) can remove one.
 */
const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";

function refused(root: string, what: string, why: string, opts: PrivateDirOptions) {
  return new PrivateDirError(
    `refusing the ${opts.what} ${root}: ${what === "." ? "the directory" : what} ${why}; another user may have planted it (the ${opts.what} must be a directory of this user's, with nothing in it owned by anyone else)`,
  );
}
