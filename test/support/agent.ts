// Real tmux for agent tests: a private server (-L), a log process, a submit key, the agent as a
// child process; helpers to read back what the log holds for the test host.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { SHELL_HOOKS } from "../../src/agent/shell-hook.ts";
import { openTestDb, type TestDb } from "./db.ts";
import { ADMIN } from "./log.ts";
import { type Proc, run } from "./proc.ts";
import { tempDir } from "./serve.ts";
import { freePort, until } from "./wait.ts";

export function tmux(socket: string, ...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", timeout: 10_000 });
}

/** A tmux server running bash with the tmuxtrail shell hook; kill it with killTmux. */
export function startTmux(socket: string, dir: string): void {
  writeFileSync(join(dir, "hook.sh"), SHELL_HOOKS.bash);
  writeFileSync(join(dir, "rc"), `PS1='$ '\nsource ${join(dir, "hook.sh")}\n`);
  tmux(
    socket,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    "work",
    "-x",
    "120",
    "-y",
    "30",
    `bash --rcfile ${join(dir, "rc")} -i`,
  );
  // New windows and panes run the same shell: the default one would read the machine's own
  // ~/.bashrc, which may wait on anything (pyenv's rehash waits up to 60 s on a lock that a shell
  // killed mid-rehash by another test left behind).
  tmux(socket, "set-option", "-g", "default-command", `bash --rcfile ${join(dir, "rc")} -i`);
}

export function killTmux(socket: string): void {
  try {
    tmux(socket, "kill-server");
  } catch {
    // already gone
  }
}

/**
 * Waits until the pane `target` pipes its output (the agent's pipe-pane is open) and shows the
 * shell's prompt: what is typed after this is captured and read by the shell with the hook loaded.
 */
export function paneReady(socket: string, target = "work", timeoutMs = 30_000): Promise<true> {
  return until(
    async () =>
      tmux(socket, "display-message", "-p", "-t", target, "#{pane_pipe}").trim() === "1" &&
      tmux(socket, "capture-pane", "-p", "-t", target).includes("$"),
    timeoutMs,
    `pane ${target} piped and at its prompt`,
  );
}

export async function submitToken(logUrl: string, host: string, dir: string): Promise<string> {
  const res = await fetch(`${logUrl}/v1/keys`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ name: `agent ${host}`, scopes: ["submit"], host }),
  });
  const { token } = (await res.json()) as { token: string };
  const file = join(dir, "token");
  writeFileSync(file, token, { mode: 0o600 });
  return file;
}

export function startAgent(o: {
  logUrl: string;
  tokenFile: string;
  host: string;
  socket: string;
  spool: string;
  args?: string[];
}): Proc {
  return run([
    "agent",
    "--log",
    o.logUrl,
    "--token-file",
    o.tokenFile,
    "--host",
    o.host,
    "-L",
    o.socket,
    "--spool",
    o.spool,
    ...(o.args ?? []),
  ]);
}

export interface LoggedEvent {
  index: number;
  event: { type: string; pane: string; seq: number; server: string; session: string };
  content?: Buffer;
}

/** Every event the log holds for `host`, in tree order. */
export async function eventsOf(logUrl: string, host: string): Promise<LoggedEvent[]> {
  const auth = { Authorization: `Bearer ${ADMIN}` };
  const sessions = (await (
    await fetch(`${logUrl}/v1/sessions?host=${host}`, { headers: auth })
  ).json()) as { id: string }[];
  const out: LoggedEvent[] = [];
  for (const s of sessions) {
    let after = -1;
    for (;;) {
      const page = (await (
        await fetch(
          `${logUrl}/v1/sessions/${s.id}/events?limit=10000${after >= 0 ? `&after=${after}` : ""}`,
          {
            headers: auth,
          },
        )
      ).json()) as {
        events: {
          index: number;
          event: LoggedEvent["event"];
          payload: { content: string } | null;
        }[];
      };
      for (const e of page.events) {
        out.push({
          index: e.index,
          event: e.event,
          content: e.payload ? Buffer.from(e.payload.content, "base64") : undefined,
        });
      }
      if (page.events.length < 10000) break;
      after = page.events[page.events.length - 1]!.index;
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The concatenated output of one pane, by seq. */
export function paneOutput(events: LoggedEvent[], pane: string): string {
  return Buffer.concat(
    events
      .filter((e) => e.event.type === "output" && e.event.pane === pane)
      .sort((a, b) => a.event.seq - b.event.seq)
      .map((e) => e.content!),
  ).toString("latin1");
}

/** Each (server, pane) stream's seqs are 0..n-1 with no gap and no repeat. */
export function streamsContiguous(events: LoggedEvent[]): boolean {
  const by = new Map<string, number[]>();
  for (const e of events) {
    const k = `${e.event.server}|${e.event.pane}`;
    by.set(k, [...(by.get(k) ?? []), e.event.seq]);
  }
  for (const seqs of by.values()) {
    seqs.sort((a, b) => a - b);
    if (seqs.some((s, i) => s !== i)) return false;
  }
  return true;
}

/** How often `line` was printed as a whole line in a pane's output (not as part of a typed command). */
export function printed(out: string, line: string): number {
  return out.split(`\r${line}\r\n`).length + out.split(`\n${line}\r\n`).length - 2;
}

export interface AgentBed {
  /** The test's own PostgreSQL schema when DATABASE_URL is set; undefined means embedded PGlite. */
  readonly db: TestDb | undefined;
  /** Processes and tmux servers to kill after each test (only those the test started). */
  readonly procs: Proc[];
  readonly sockets: string[];
}

/**
 * Registers the calling test file's hooks: a database schema of each test's own (each test starts
 * its own log, and a log's database belongs to its key), and after each test kill -9 of the
 * processes and tmux servers it pushed onto `procs` and `sockets`, then the schema dropped.
 */
export function agentBed(): AgentBed {
  let db: TestDb | undefined;
  const bed = {
    procs: [] as Proc[],
    sockets: [] as string[],
    get db() {
      return db;
    },
  };
  beforeEach(async () => {
    if (process.env.DATABASE_URL) db = await openTestDb();
  });
  afterEach(async () => {
    const procs = bed.procs.splice(0);
    for (const p of procs) p.child.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    for (const s of bed.sockets.splice(0)) killTmux(s);
    await db?.close();
    db = undefined;
  });
  return bed;
}

export { freePort, tempDir, until };
