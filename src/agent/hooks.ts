// The agent's tmux hooks, kept beside the user's (docs/design.md §7.1: hooks append, never replace).
//
// tmux hooks are arrays (`after-new-window[0]`, `[1]`, …), run in index order. Measured on tmux
// 3.3a, which decides how the agent treats them:
//   set-hook -g NAME CMD        replaces the whole array with [0] = CMD (what a tmux.conf or a
//                               plugin usually does, so re-sourcing one drops every other entry)
//   set-hook -ga NAME CMD       adds CMD at the first free index (a hole left by -u is reused)
//   set-hook -g 'NAME[N]' CMD   sets entry N only
//   set-hook -gu 'NAME[N]'      unsets entry N only; the other indexes do not move
//   show-hooks -g               prints `NAME[N] CMD` per entry, with CMD re-quoted by tmux
// So the agent appends its entries with -ga, never touches another entry, and recognises its own
// by a marker in the shell command they run, `: tmuxtrail-<16 hex>;` (a no-op for sh), derived
// from the spool's real path: it survives tmux's re-quoting, and another agent with another
// spool has another marker. install() (at start) overwrites in place an entry a killed agent
// left behind instead of adding a second one; check() (every 2 s) adds back entries a
// re-sourced tmux.conf dropped; remove() (on a clean stop) unsets exactly the marked entries.
// (One `show-hooks -g ; show-environment -g` client reads all of it.)
// TMUXTRAIL_SPOOL, the global environment variable the shell hook reads, is kept the same way:
// set at start, set again when dropped, and on stop restored to what it was before (or unset).
//
// A user changing a hook array between our show-hooks and our set-hook could make an index we
// act on stale; the agent re-reads before every change and only ever acts on marked entries.

import { createHash } from "node:crypto";
import type { Tmux } from "./tmux.ts";

export interface HookEntry {
  name: string;
  index: number;
  command: string;
}

/** The no-op shell command that marks the agent's entries for the spool at `spoolDir`. */
export function hookMarker(spoolDir: string): string {
  return `tmuxtrail-${createHash("sha256").update(spoolDir).digest("hex").slice(0, 16)}`;
}

/** Parses `show-hooks -g`: one `NAME[N] COMMAND` line per entry (a bare NAME is an empty array). */
export function parseHooks(text: string): HookEntry[] {
  const out: HookEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-z-]+)\[(\d+)\] (.*)$/.exec(line);
    if (m) out.push({ name: m[1]!, index: Number(m[2]), command: m[3]! });
  }
  return out;
}

export class TmuxHooks {
  private readonly marker: string;
  /** What the spool variable held before the agent set it (restored on stop). */
  private previousSpool: string | undefined;

  constructor(
    private readonly tmux: Tmux,
    private readonly spoolDir: string,
    /** The agent's hooks: name → tmux command (each one's shell command carries the marker). */
    private readonly wanted: [name: string, command: string][],
    private readonly say: (m: string) => void,
  ) {
    this.marker = hookMarker(spoolDir);
    for (const [name, command] of wanted) {
      if (!command.includes(this.marker)) throw new Error(`hook ${name} lacks the agent's marker`);
    }
  }

  /** The agent's entries and the spool variable, read with one tmux client. */
  private async read(): Promise<{ mine: HookEntry[]; spool: string | undefined }> {
    const out = await this.tmux.cmd("show-hooks", "-g", ";", "show-environment", "-g");
    const mine = parseHooks(out).filter((h) => h.command.includes(this.marker));
    const line = out.split("\n").find((l) => l.startsWith("TMUXTRAIL_SPOOL="));
    return { mine, spool: line?.slice("TMUXTRAIL_SPOOL=".length) };
  }

  /** Adds the agent's entries, reusing (overwriting in place) any a killed agent left behind. */
  async install(): Promise<void> {
    const { mine, spool } = await this.read();
    for (const [name, command] of this.wanted) {
      const [first, ...extra] = mine.filter((h) => h.name === name);
      if (first) await this.tmux.cmd("set-hook", "-g", `${name}[${first.index}]`, command);
      else await this.tmux.cmd("set-hook", "-ga", name, command);
      for (const h of extra) await this.tmux.cmd("set-hook", "-gu", `${name}[${h.index}]`);
    }
    if (spool !== this.spoolDir) this.previousSpool = spool;
    await this.tmux.cmd("set-environment", "-g", "TMUXTRAIL_SPOOL", this.spoolDir);
  }

  /** Adds back what was dropped (a re-sourced tmux.conf, a plugin's `set-hook -g`). */
  async check(): Promise<void> {
    const { mine, spool } = await this.read();
    for (const [name, command] of this.wanted) {
      const have = mine.filter((h) => h.name === name);
      if (have.length === 0) {
        this.say(
          `tmux hook ${name}: the agent's entry was dropped (tmux.conf re-sourced?); added again`,
        );
        await this.tmux.cmd("set-hook", "-ga", name, command);
      }
      for (const h of have.slice(1)) await this.tmux.cmd("set-hook", "-gu", `${name}[${h.index}]`);
    }
    if (spool !== this.spoolDir) {
      this.say("tmux global environment: TMUXTRAIL_SPOOL was changed or dropped; set again");
      await this.tmux.cmd("set-environment", "-g", "TMUXTRAIL_SPOOL", this.spoolDir);
    }
  }

  /** Unsets exactly the agent's entries, and the spool variable if it is still the agent's. */
  async remove(): Promise<void> {
    const { mine, spool } = await this.read();
    for (const h of mine) await this.tmux.cmd("set-hook", "-gu", `${h.name}[${h.index}]`);
    if (spool === this.spoolDir) {
      if (this.previousSpool === undefined)
        await this.tmux.cmd("set-environment", "-gu", "TMUXTRAIL_SPOOL");
      else await this.tmux.cmd("set-environment", "-g", "TMUXTRAIL_SPOOL", this.previousSpool);
    }
  }
}
