// Whether a pane's output is arriving: tmux runs each pane's pipe-pane writer as the server's
// owner, and a writer that cannot write its file dies silently (tmux only closes the pipe). At every
// poll the agent compares each pane with the last poll: a closed pipe, or a pane whose cursor or
// history moved (not a resize, not a dead pane) while its output file did not grow for
// NOT_ARRIVING_MS, is "output NOT ARRIVING" in the status until output arrives again.

import { lstatSync } from "node:fs";
import type { PaneInfo } from "./tmux.ts";

/** A pane that changed while its output file did not grow for this long is NOT ARRIVING. */
export const NOT_ARRIVING_MS = 3000;

interface PaneHealth {
  /** The raw file's size at the last poll. */
  size: number;
  cursor?: string;
  history?: number;
  cols: number;
  rows: number;
  /** Times tmux closed the pane's pipe since its file last grew. */
  closed: number;
  /** When the pane first changed with its file not growing since. */
  changedSince?: number;
}

/** A raw file's size; 0 while it does not exist. */
function rawSize(file: string): number {
  try {
    return lstatSync(file).size;
  } catch {
    return 0;
  }
}

export class PaneHealthWatch {
  private readonly panes = new Map<string, PaneHealth>();

  /** Compares a pane with the last poll: did its output file grow when the pane changed? */
  watch(p: PaneInfo, file: string, pipe: "new" | "closed" | "open", now = Date.now()): void {
    const size = rawSize(file);
    const h = this.panes.get(p.pane);
    const next = { cursor: p.cursor, history: p.history, cols: p.cols, rows: p.rows, size };
    if (!h || pipe === "new") {
      this.panes.set(p.pane, { ...next, closed: 0 });
      return;
    }
    if (size > h.size) {
      h.closed = 0;
      h.changedSince = undefined;
    } else if (h.changedSince === undefined && !p.dead) {
      // A resize reflows the screen without output; a shrinking history was cleared.
      const resized = h.cols !== p.cols || h.rows !== p.rows;
      const moved = p.cursor !== h.cursor || (p.history ?? 0) > (h.history ?? 0);
      if (moved && !resized) h.changedSince = now;
    }
    if (pipe === "closed") h.closed++;
    Object.assign(h, next);
  }

  /** "captured", or "output NOT ARRIVING: <why>". */
  state(pane: string, file: string, now = Date.now()): string {
    const h = this.panes.get(pane);
    if (h && h.closed > 0) {
      return (
        `output NOT ARRIVING: tmux closed its output pipe ${h.closed} time(s) since output last arrived ` +
        `(the writer died: can the tmux server's user write ${file}?); reopened each time`
      );
    }
    if (h?.changedSince !== undefined && now - h.changedSince >= NOT_ARRIVING_MS) {
      return (
        `output NOT ARRIVING: the pane changed at ${new Date(h.changedSince).toISOString()} ` +
        `but ${file} has not grown since (is its pipe-pane still the agent's?)`
      );
    }
    return "captured";
  }

  forget(pane: string): void {
    this.panes.delete(pane);
  }
}
