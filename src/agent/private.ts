// The spool is private (docs/design.md §7.7): it holds pane output, command lines and directories
// from before redaction, so only the user the agent runs as may read or change anything in it.
//
//   - Directories are 0700 and files 0600 whatever the umask: the agent creates its files with
//     mode 0600 (a umask only ever removes bits), and what tmux and the shell hook write into it
//     is pre-created here (hooks.log, commands.log) or written under `umask 077` (see
//     pane-output.ts and hook-logs.ts).
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

import { closeSync, constants, openSync } from "node:fs";
import { makePrivateDir, PrivateDirError } from "../lib/private-dir.ts";

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW } = constants;

/** open(2) flags for files in the spool: never through a symbolic link. */
export const SPOOL_OPEN = {
  read: O_RDONLY | O_NOFOLLOW,
  append: O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW,
  readAppend: O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW,
  write: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
} as const;

/** Opens a spool file for reading; undefined when it does not exist (yet). */
export function openIfExists(file: string): number | undefined {
  try {
    return openSync(file, SPOOL_OPEN.read);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The spool cannot be used safely; the agent refuses to start. */
export class SpoolAccessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolAccessError";
  }
}

/**
 * Creates the spool directory owner-only, or checks and tightens an existing one (see the file
 * header; the walk is src/lib/private-dir.ts, here refusing any file with other hard links).
 * Returns its real path; warns through `log` about everything it tightened.
 */
export function makeSpoolPrivate(dir: string, say: (m: string) => void): string {
  try {
    return makePrivateDir(dir, {
      what: "spool",
      flag: "--spool",
      holds: "output and commands from before redaction",
      say,
      hardLinks: "refuse",
      label: "SPOOL PERMISSIONS",
    });
  } catch (e) {
    if (e instanceof PrivateDirError) throw new SpoolAccessError(e.message);
    throw e;
  }
}

/** Creates `path` (owner-only) if it is missing, so no other writer creates it with its umask. */
export function touchPrivate(path: string): void {
  closeSync(openSync(path, SPOOL_OPEN.append, 0o600));
}
