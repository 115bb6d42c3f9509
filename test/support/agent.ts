// Real tmux for agent tests: a private server (-L), a log process, a submit key, the agent as a
// child process (agentOnTmux sets them up together, agentBed kills them after each test); helpers
// to read back what the log holds for the test host.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { SHELL_HOOKS } from "../../src/agent/shell-hook.ts";
import { openTestDb, type TestDb } from "./db.ts";
import { ADMIN } from "./log.ts";
import { type Proc, run } from "./proc.ts";
import { type Served, serve, tempDir } from "./serve.ts";
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
  /** Added to the agent's environment (e.g. a locale). */
  env?: Record<string, string>;
}): Proc {
  return run(
    [
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
    ],
    o.env,
  );
}

export interface AgentOnTmuxOptions {
  /** Names what is made: the directory tt-<name>-…, the host <name>-<hex>, the socket tt-<name>-<hex>. */
  name: string;
  /**
   * The log the agent sends to, started in <dir>/log on the test's database, the agent's submit
   * key made there: `args` for `serve`; `logKey` gives the agent --log-key with the log's verifier
   * key; `agentUrl` is the URL the agent is given instead of the log's (a proxy in front of it).
   * `false`: no log, the agent sends to a port where nothing listens (with a token never used).
   */
  log?:
    | false
    | {
        args?: string[];
        logKey?: boolean;
        agentUrl?: (log: Served) => string | Promise<string>;
      };
  /** The spool directory; <dir>/spool by default. */
  spool?: (dir: string) => string;
  /** Runs once tmux (and the log) run, before the agent starts: what the test sets up first. */
  before?: (t: { dir: string; socket: string; spool: string; log: Served | undefined }) => unknown;
  agentArgs?: string[];
  agentEnv?: Record<string, string>;
  /** Wait for the agent to say it captures (default); false for an agent that must refuse. */
  capturing?: boolean;
  /** Then wait for pane "work" to be piped and at its prompt (see paneReady). */
  paneReady?: boolean;
}

export interface AgentOnTmux {
  dir: string;
  host: string;
  socket: string;
  spool: string;
  tokenFile: string;
  /** The URL the agent sends to. */
  logUrl: string;
  agent: Proc;
  /** Starts another agent as the first was started (after the test killed or stopped it), once it captures. */
  startAgent(): Promise<Proc>;
}

export interface LoggedAgentOnTmux extends AgentOnTmux {
  log: Served;
  /** The log's verifier key, as `serve` printed it. */
  verifierKey: string;
}

/**
 * The agent tests' set-up: a private tmux server running bash with the shell hook (startTmux), a
 * log with a submit key for the agent (unless `log: false`), and the agent on that tmux server.
 * Everything started is pushed onto `bed` to be killed after the test.
 */
export function agentOnTmux(
  bed: AgentBed,
  o: AgentOnTmuxOptions & { log: false },
): Promise<AgentOnTmux>;
export function agentOnTmux(
  bed: AgentBed,
  o: AgentOnTmuxOptions & { log?: Exclude<AgentOnTmuxOptions["log"], false> },
): Promise<LoggedAgentOnTmux>;
export async function agentOnTmux(
  bed: AgentBed,
  o: AgentOnTmuxOptions,
): Promise<AgentOnTmux | LoggedAgentOnTmux> {
  const dir = tempDir(`tt-${o.name}-`);
  const host = `${o.name}-${randomBytes(3).toString("hex")}`;
  const socket = `tt-${o.name}-${randomBytes(4).toString("hex")}`;
  const spool = o.spool ? o.spool(dir) : join(dir, "spool");
  let log: Served | undefined;
  let verifierKey: string | undefined;
  let logUrl: string;
  let tokenFile: string;
  const agentArgs = [...(o.agentArgs ?? [])];
  if (o.log === false) {
    logUrl = `http://127.0.0.1:${await freePort()}`;
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "tt_unused_token_for_a_dead_log");
  } else {
    log = await serve({ data: join(dir, "log"), schema: bed.db?.schema, args: o.log?.args });
    bed.procs.push(log.proc);
    verifierKey = log.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
    if (o.log?.logKey) agentArgs.unshift("--log-key", verifierKey);
    tokenFile = await submitToken(log.url, host, dir);
    logUrl = o.log?.agentUrl ? await o.log.agentUrl(log) : log.url;
  }
  startTmux(socket, dir);
  bed.sockets.push(socket);
  await o.before?.({ dir, socket, spool, log });
  const start = async (wait: boolean) => {
    const agent = startAgent({
      logUrl,
      tokenFile,
      host,
      socket,
      spool,
      args: agentArgs,
      env: o.agentEnv,
    });
    bed.procs.push(agent);
    if (wait) await agent.waitFor(/capturing into/, 30_000);
    return agent;
  };
  const agent = await start(o.capturing !== false);
  if (o.paneReady) await paneReady(socket);
  const t = { dir, host, socket, spool, tokenFile, logUrl, agent, startAgent: () => start(true) };
  return log ? { ...t, log, verifierKey: verifierKey! } : t;
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
