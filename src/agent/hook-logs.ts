// The two line logs that hooks append to in the spool, read as events (docs/design.md §2.12):
//   hooks.log     tmux's client-attached and client-detached hooks (clientHook) append
//                 `kind 0x1F session 0x1F client user 0x1F client tty`: attach and detach events;
//   commands.log  the shell hook (shell-hook.ts) appends one record per command (command-record.ts),
//                 redacted into a command event (commands.ts).
// Only complete lines are read, from the spool's mark for the log (`#hooks`, `#commands`), at most
// READ_LIMIT bytes a round; each event carries the offset after its line as the new mark, so a
// line becomes an event exactly once. A line that is not a record is skipped.

import { closeSync, fstatSync, readSync } from "node:fs";
import { join } from "node:path";
import type { CaptureEvents } from "./capture-events.ts";
import { commandEvent } from "./commands.ts";
import { hookMarker } from "./hooks.ts";
import { READ_LIMIT } from "./output-chunks.ts";
import { openIfExists } from "./private.ts";
import type { RedactionPattern } from "./redact.ts";
import type { Spool, SpoolLine } from "./spool.ts";
import { type PaneInfo, shq } from "./tmux.ts";

/** The tmux command of the client hook that appends a `kind` line to hooks.log. */
export function clientHook(spoolDir: string, kind: "attach" | "detach"): string {
  const hooksLog = shq(join(spoolDir, "hooks.log"));
  return `run-shell -b ": ${hookMarker(spoolDir)}; umask 077; printf '%s\\037%s\\037%s\\037%s\\n' ${kind} #{q:session_id} #{q:client_user} #{q:client_tty} >> ${hooksLog}"`;
}

/** Attach and detach events of the new lines of hooks.log. */
export function hookEvents(spool: Spool, events: CaptureEvents): SpoolLine[] {
  return tailLines(spool, "hooks", "utf8").flatMap(({ line, end }) => {
    const [kind, session, user, tty] = line.split("\u001f");
    if ((kind !== "attach" && kind !== "detach") || !session) return [];
    const meta = {
      ...events.meta(kind, "-", { session, window: "-" }),
      client: { user: user || "-", tty: tty || "-" },
    };
    return [events.event(meta, undefined, { pane: "#hooks", end })];
  });
}

/** Command events of the new lines of commands.log; `panes` give a live pane's session. */
export function commandEvents(
  spool: Spool,
  events: CaptureEvents,
  patterns: RedactionPattern[],
  panes: Map<string, PaneInfo>,
): SpoolLine[] {
  // latin1: the record parser reads the fields' bytes (command-record.ts).
  return tailLines(spool, "commands", "latin1").flatMap(({ line, end: offset }) => {
    const c = commandEvent(line, patterns);
    if (!c) return [];
    // A command of a pane that closed since is still recorded, without its session.
    const info = panes.get(c.pane) ?? { session: "-", window: "-" };
    const meta = {
      ...events.meta("command", c.pane, info),
      ...(c.redactions.length ? { redactions: c.redactions } : {}),
    };
    return [events.event(meta, c.content, { pane: "#commands", end: offset })];
  });
}

/** Complete new lines of hooks.log or commands.log, each with the file offset after it. */
function tailLines(
  spool: Spool,
  name: "hooks" | "commands",
  encoding: "utf8" | "latin1",
): { line: string; end: number }[] {
  const mark = `#${name}`;
  const fd = openIfExists(join(spool.dir, `${name}.log`));
  if (fd === undefined) return [];
  const from = spool.state.raw[mark] ?? 0;
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
