// Talking to one tmux server: `tmux [-L name | -S path] …`. Every call is a short-lived client
// with a timeout, so a wedged server never wedges the agent.

import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TmuxTarget {
  /** -L socket name */
  name?: string;
  /** -S socket path */
  path?: string;
}

export interface PaneInfo {
  session: string;
  sessionName: string;
  window: string;
  pane: string;
  cols: number;
  rows: number;
  user: string;
  /** Whether the pane's pipe-pane is open (tmux closes it when the writer dies). */
  piped?: boolean;
  /** Where the cursor is and how many lines scrolled into history: they move only with output. */
  cursor?: string;
  history?: number;
  /** The pane's process has exited (tmux itself may draw "Pane is dead" into it). */
  dead?: boolean;
}

/** One running tmux server. */
export interface ServerInfo {
  /** `<socket name>@<start time>` */
  id: string;
  socketPath: string;
  /** The uid the server runs as: pipe-pane writers and hooks run as it. */
  uid: number;
}

const SEP = "\u001f";

/**
 * Whether a tmux client's error says no server runs at the socket: none listens (ECONNREFUSED) or
 * there is no socket yet (ENOENT). "Permission denied" is not one: a server is there that this
 * user cannot reach (socketOwner says whose).
 */
export function noServer(e: unknown): boolean {
  return /no server running|error connecting to .*\((No such file or directory|Connection refused)\)/.test(
    (e as Error).message ?? "",
  );
}

/** Who holds a socket path, as far as this user can see. */
export interface SocketOwner {
  uid: number;
  /** The socket itself was stat'ed; false: `dir`, owned by `uid`, refused this user on the way to it. */
  reachable: boolean;
  dir?: string;
}

/**
 * The owner of the socket at `path` (tmux creates it as the server's user), or, when a directory on
 * the way refuses this user, that directory's owner; undefined when there is no socket.
 */
export function socketOwner(path: string): SocketOwner | undefined {
  try {
    return { uid: statSync(path).uid, reachable: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES") return undefined;
  }
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      return { uid: statSync(dir).uid, reachable: false, dir };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EACCES" || dir === dirname(dir)) return undefined;
    }
  }
}

export class Tmux {
  constructor(private readonly target: TmuxTarget) {}

  /**
   * `-u` first: in a locale that is not UTF-8 (LANG unset, as under systemd) tmux prints every
   * control character of -F output, our field separator included, and every non-ASCII character of
   * capture-pane as `_`; -u makes this client write the bytes as they are, whatever the locale.
   */
  private args(): string[] {
    if (this.target.path) return ["-u", "-S", this.target.path];
    if (this.target.name) return ["-u", "-L", this.target.name];
    return ["-u"];
  }

  async cmd(...argv: string[]): Promise<string> {
    const { stdout } = await run("tmux", [...this.args(), ...argv], {
      timeout: 5000,
      maxBuffer: 8 * 1024 * 1024,
    });
    return stdout;
  }

  /** `<socket name>@<start time>`: one tmux server instance (tmux reuses $0, @0, %0 after a restart). */
  async serverId(): Promise<string> {
    return (await this.server()).id;
  }

  /** The running server: its id, socket and owner (`#{uid}`, tmux >= 3.2; else the socket's owner). */
  async server(): Promise<ServerInfo> {
    const out = await this.cmd(
      "display-message",
      "-p",
      `#{socket_path}${SEP}#{start_time}${SEP}#{uid}`,
    );
    const [path, start, uid] = out.replace(/\n$/, "").split(SEP) as string[];
    return {
      id: `${path!.split("/").pop()}@${start}`,
      socketPath: path!,
      uid: /^\d+$/.test(uid ?? "") ? Number(uid) : statSync(path!).uid,
    };
  }

  /** Where the server's socket is (as tmux finds it: -S, else $TMUX_TMPDIR/tmux-<uid>/<name>). */
  socketPath(): string {
    if (this.target.path) return this.target.path;
    const dir = process.env.TMUX_TMPDIR || "/tmp";
    return `${dir.replace(/\/+$/, "")}/tmux-${process.getuid?.() ?? 0}/${this.target.name ?? "default"}`;
  }

  async panes(): Promise<PaneInfo[]> {
    const f = [
      "#{session_id}",
      "#{session_name}",
      "#{window_id}",
      "#{pane_id}",
      "#{pane_width}",
      "#{pane_height}",
      "#{pane_pipe}",
      "#{cursor_x},#{cursor_y}",
      "#{history_size}",
      "#{pane_dead}",
    ].join(SEP);
    const out = await this.cmd("list-panes", "-a", "-F", f);
    return out
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [session, sessionName, window, pane, cols, rows, pipe, cursor, history, dead] =
          l.split(SEP) as string[];
        return {
          session: session!,
          sessionName: sessionName!,
          window: window!,
          pane: pane!,
          cols: Number(cols),
          rows: Number(rows),
          user: "",
          piped: pipe === "1",
          cursor,
          history: Number(history),
          dead: dead === "1",
        };
      });
  }

  /** The screen a pane shows now, with escapes, as bytes. */
  async capture(pane: string): Promise<Buffer> {
    const { stdout } = await run("tmux", [...this.args(), "capture-pane", "-p", "-e", "-t", pane], {
      timeout: 5000,
      encoding: "buffer",
      maxBuffer: 8 * 1024 * 1024,
    });
    return stdout;
  }
}

/** Quotes a string for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
