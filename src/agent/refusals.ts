// What the agent refuses before it captures or sends anything, each a usage error (exit 2) that
// names the fix: a tmux server of another user (its pipe-pane writers could not write this agent's
// owner-only spool), found from the server itself or, before connecting, from its socket; and a
// spool holding unsent events recorded as another host (spooled events keep their host).

import { readFileSync } from "node:fs";
import { UsageError } from "../core/errors.ts";
import type { Spool } from "./spool.ts";
import { type ServerInfo, socketOwner } from "./tmux.ts";

/**
 * Refuses a spool holding unsent events recorded as another host: they keep the host they were
 * recorded with (a spooled event is never rewritten), and a key for this run's host would be
 * refused them by the log for ever.
 */
export function checkSpoolHost(spool: Spool, host: string): void {
  const other = [...spool.pendingHosts()].filter(([h]) => h !== host);
  if (other.length === 0) return;
  const what = other.map(([h, n]) => `${n} unsent event(s) recorded as host "${h}"`).join(", ");
  const [h] = other[0]!;
  throw new UsageError(
    `the spool ${spool.dir} holds ${what}, but this agent records as host "${host}" ` +
      "(spooled events keep the host they were recorded with): run the agent with " +
      `--host ${JSON.stringify(h)} and a submit key bound to "${h}" until they are sent, ` +
      "or stop it and move the spool aside (keep it: those events were never sent) to start a new one",
  );
}

function userName(uid: number): string {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.split(":")[2] === String(uid));
    return line ? `${line.split(":")[0]} (uid ${uid})` : `uid ${uid}`;
  } catch {
    return `uid ${uid}`;
  }
}

function otherUser(what: string, owner: number, me: number): UsageError {
  const name = userName(owner);
  return new UsageError(
    `${what} but the agent runs as ${userName(me)}: ` +
      "tmux runs the pipe-pane writers and hooks as the server's owner, and they cannot write this " +
      "agent's owner-only spool, so no output would arrive. Run the agent as that user " +
      `(systemd: tmuxtrail-agent@${name.split(" ")[0]}, a unit with User=%i; docs/operations.md)`,
  );
}

/**
 * Refuses a tmux server owned by another user than the agent's: tmux runs the pipe-pane writers
 * and hooks as the server's owner, and they cannot write the agent's owner-only spool (0700,
 * private.ts), so no output would ever arrive. Same uid is the rule.
 */
export function checkServerOwner(server: ServerInfo): void {
  const me = process.getuid?.();
  if (me === undefined || server.uid === me) return;
  throw otherUser(
    `the tmux server at ${server.socketPath} runs as ${userName(server.uid)}`,
    server.uid,
    me,
  );
}

/**
 * The same rule before connecting, from the socket file: a socket of another user, or one behind a
 * directory of another user that refuses this one (tmux then says "Permission denied", which is
 * not "no server": waiting for it would wait for ever), is refused.
 */
export function checkSocketOwner(path: string): void {
  const me = process.getuid?.();
  const owner = socketOwner(path);
  if (me === undefined || !owner) return;
  if (owner.reachable) {
    if (owner.uid !== me)
      throw otherUser(`the tmux server at ${path} runs as ${userName(owner.uid)}`, owner.uid, me);
    return;
  }
  if (owner.uid === me)
    throw new UsageError(
      `the tmux socket ${path} cannot be reached: permission denied on the way to it`,
    );
  throw otherUser(
    `the tmux server at ${path} cannot be reached (permission denied): ${owner.dir} belongs to ` +
      `${userName(owner.uid)}, so the server runs as ${userName(owner.uid)}`,
    owner.uid,
    me,
  );
}
