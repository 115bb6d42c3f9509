// The spool is private (docs/design.md §7.7): it holds pane output, command lines and directories
// from before redaction, so only the user the agent runs as may read or change anything in it.
//
//   - Directories are 0700 and files 0600 whatever the umask: the agent creates its files with
//     mode 0600 (a umask only ever removes bits), and what tmux and the shell hook write into it
//     is pre-created here (hooks.log, commands.log) or written under `umask 077` (see capture.ts).
//   - At start an existing spool is checked top-down. Each directory is opened without following
//     a symbolic link, must be ours, and is tightened to 0700 *before* its entries are listed, so
//     from then on no other user can add, swap or link anything in it while we look. Every entry
//     must be ours and no symbolic link (one planted by another user would make the agent write
//     its spool into, or send to the log, a file the attacker chose); a file with other hard
//     links is refused for the same reason. What was wider is tightened and named in a warning.
//   - The directories above the spool must not let another user replace it: none may be writable
//     by others without the sticky bit, or owned by another user (root excepted). The spool is
//     then used by its real path, so a symbolic link above it is resolved once, here.
//   - Files in the spool are opened with O_NOFOLLOW.
//
// Not covered: a process of another user that opened a file while the spool was still readable
// keeps its descriptor (and reads what is appended later); move such a spool aside and start anew.

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

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } =
  constants;

/** open(2) flags for files in the spool: never through a symbolic link. */
export const SPOOL_OPEN = {
  read: O_RDONLY | O_NOFOLLOW,
  append: O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW,
  readAppend: O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW,
  write: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
} as const;

/** The spool cannot be used safely; the agent refuses to start. */
export class SpoolAccessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolAccessError";
  }
}

const uid = () => process.getuid?.() ?? 0;
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

/**
 * Creates the spool directory owner-only, or checks and tightens an existing one (see the file
 * header). Returns its real path; warns through `log` about everything it tightened.
 */
export function makeSpoolPrivate(dir: string, log: (m: string) => void): string {
  const wanted = resolve(dir);
  mkdirSync(dirname(wanted), { recursive: true, mode: 0o700 });
  const parent = realpathSync(dirname(wanted));
  checkAncestors(parent, dir);
  const real = join(parent, basename(wanted));
  try {
    mkdirSync(real, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const tightened: string[] = [];
  tighten(real, real, tightened);
  if (tightened.length > 0) {
    const shown = tightened.slice(0, 10).join(", ");
    const more = tightened.length > 10 ? ` and ${tightened.length - 10} more` : "";
    log(
      `SPOOL PERMISSIONS: ${real} was open to other users (it holds output and commands from before redaction); tightened to owner-only: ${shown}${more}`,
    );
  }
  return real;
}

function checkAncestors(parent: string, given: string): void {
  for (let d = parent; ; d = dirname(d)) {
    const st = lstatSync(d);
    const open = (st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0;
    if (open || (st.uid !== uid() && st.uid !== 0)) {
      throw new SpoolAccessError(
        `refusing the spool ${given}: ${d} is ${open ? "writable by every user (and not sticky)" : `owned by uid ${st.uid}`}, so another user could replace the spool`,
      );
    }
    if (d === dirname(d)) return;
  }
}

/** Checks one directory (opened without following a link), tightens it, then its entries. */
function tighten(path: string, root: string, tightened: string[]): void {
  const name = relative(root, path) || ".";
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    // Linux answers ENOTDIR for a symbolic link opened with O_DIRECTORY | O_NOFOLLOW.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || (code === "ENOTDIR" && lstatSync(path).isSymbolicLink()))
      throw refused(
        root,
        name,
        `is a symbolic link${name === "." ? " (if it is yours, give --spool its target)" : ""}`,
      );
    if (code === "ENOTDIR") throw refused(root, name, "is not a directory");
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.uid !== uid()) throw refused(root, name, `is owned by uid ${st.uid}, not ${uid()}`);
    if ((st.mode & 0o077) !== 0) {
      fchmodSync(fd, 0o700);
      tightened.push(`${name === "." ? "the directory" : `${name}/`} ${octal(st.mode)}→0700`);
    }
  } finally {
    closeSync(fd);
  }
  for (const entry of readdirSync(path)) {
    const p = join(path, entry);
    const st = lstatSync(p);
    const what = relative(root, p);
    if (st.isSymbolicLink()) throw refused(root, what, "is a symbolic link");
    if (st.uid !== uid()) throw refused(root, what, `is owned by uid ${st.uid}, not ${uid()}`);
    if (st.isDirectory()) {
      tighten(p, root, tightened);
      continue;
    }
    if (st.isFile() && st.nlink > 1) throw refused(root, what, `has ${st.nlink} hard links`);
    if ((st.mode & 0o177) !== 0) {
      // By path: `path` is already ours and 0700, so no one else can swap the entry meanwhile.
      chmodSync(p, st.mode & 0o600);
      tightened.push(`${what} ${octal(st.mode)}→${octal(st.mode & 0o600)}`);
    }
  }
}

function refused(root: string, what: string, why: string): SpoolAccessError {
  return new SpoolAccessError(
    `refusing the spool ${root}: ${what === "." ? "the directory" : what} ${why}; another user may have planted it (the spool must be a directory of this user's, with nothing in it owned by anyone else)`,
  );
}

/** Creates `path` (owner-only) if it is missing, so no other writer creates it with its umask. */
export function touchPrivate(path: string): void {
  closeSync(openSync(path, SPOOL_OPEN.append, 0o600));
}
