// The agent and the tmux server it captures (issue 17, items 7 and 8), against real tmux on
// private sockets (only the servers started here are killed):
//   - no server yet: the agent waits for it (status "waiting"), then captures it; SIGTERM while
//     waiting is a prompt exit 0; when the server goes away it waits for the next, whose panes
//     (reusing %0) are captured from their first byte;
//   - a server of another user: refused at start (exit 2): its pipe-pane writers could not write
//     the agent's owner-only spool;
//   - a pane whose output does not reach its file (pipe replaced, writer dying) is "output NOT
//     ARRIVING" in the status, and `agent status` exits 1.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  agentBed,
  agentOnTmux,
  eventsOf,
  freePort,
  paneOutput,
  startAgent,
  startTmux,
  submitToken,
  tempDir,
  tmux,
  until,
} from "../support/agent.ts";
import { canActAsOther } from "../support/private.ts";
import { run } from "../support/proc.ts";
import { serve } from "../support/serve.ts";

const started = agentBed();

const status = (spool: string) => JSON.parse(readFileSync(join(spool, "status.json"), "utf8"));
const type = (socket: string, keys: string) =>
  tmux(socket, "send-keys", "-t", "work", keys, "Enter");

/** The agent's exit code, or "running" if it is still up after `ms`. */
const exitWithin = (agent: { exited: Promise<number | null> }, ms: number) =>
  Promise.race([agent.exited, new Promise<"running">((r) => setTimeout(() => r("running"), ms))]);

/** tmux with bash and an agent on it sending to a log that is not there. */
async function offlineAgent() {
  const t = await agentOnTmux(started, { name: "lifecycle", log: false });
  await until(async () => status(t.spool).panes.includes("%0"), 30_000, "the pane captured");
  const rawDir = join(t.spool, "raw", readdirSync(join(t.spool, "raw"))[0]!);
  const raw = join(rawDir, "0.out");
  await until(async () => existsSync(raw), 30_000, "the raw file");
  return { ...t, raw };
}

describe("the agent waits for its tmux server", () => {
  it("started before tmux: says it waits, status says waiting, then captures the server once it runs; the server gone, it waits again", {
    timeout: 150_000,
  }, async () => {
    const dir = tempDir("tt-lifecycle-");
    const host = `wait-${randomBytes(3).toString("hex")}`;
    const socket = `ttw-${randomBytes(4).toString("hex")}`;
    const s = await serve({ data: join(dir, "log"), schema: started.db?.schema });
    started.procs.push(s.proc);
    const tokenFile = await submitToken(s.url, host, dir);
    const spool = join(dir, "spool");
    started.sockets.push(socket);
    const agent = startAgent({ logUrl: s.url, tokenFile, host, socket, spool });
    started.procs.push(agent);
    const socketPath = `/tmp/tmux-${process.getuid!()}/${socket}`;
    await until(
      async () => agent.stderr().includes(`waiting for the tmux server at ${socketPath}`),
      30_000,
      "the waiting line",
    );
    const st = await until(async () => status(spool), 30_000, "the status file");
    expect(st.waiting).toContain(`waiting for the tmux server at ${socketPath}`);
    const cli = run(["agent", "status", "--spool", spool]);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toMatch(/tmux server +waiting for the tmux server at /);
    expect(await exitWithin(agent, 1500)).toBe("running");
    // The server appears: captured from its first pane on.
    startTmux(socket, dir);
    await until(async () => status(spool).panes.includes("%0"), 30_000, "the pane captured");
    expect(status(spool).waiting).toBeNull();
    type(socket, "echo after-the-wait-$((6*7))");
    await until(
      async () => paneOutput(await eventsOf(s.url, host), "%0").includes("after-the-wait-42"),
      30_000,
      "the output in the log",
    );
    // The server goes away: the agent says so and waits for the next one.
    tmux(socket, "kill-server");
    await until(async () => status(spool).waiting, 20_000, "waiting again");
    expect(agent.stderr()).toMatch(/the tmux server is gone; waiting for the next one/);
    expect(await exitWithin(agent, 1500)).toBe("running");
  });

  it("the server gone and a new one started on the same socket: the agent captures it, its panes announced and captured from their first byte (pane ids are reused)", {
    timeout: 150_000,
  }, async () => {
    const { dir, host, socket, spool, log } = await agentOnTmux(started, { name: "again" });
    await until(async () => status(spool).panes.includes("%0"), 30_000, "the first pane");
    // The first server's %0 writes far more than the second's will.
    type(socket, "seq 1 2000; echo first-$((1+1))");
    await until(
      async () => paneOutput(await eventsOf(log.url, host), "%0").includes("first-2"),
      30_000,
      "the first server's output",
    );
    const firstServer = status(spool).server;
    tmux(socket, "kill-server");
    await until(async () => status(spool).waiting, 20_000, "waiting again");
    startTmux(socket, dir);
    await until(
      async () => status(spool).server !== firstServer && status(spool).panes.includes("%0"),
      30_000,
      "the second pane",
    );
    type(socket, "echo second-$((2+2))");
    const servers = await until(
      async () => {
        const ev = await eventsOf(log.url, host);
        const ids = [...new Set(ev.map((e) => e.event.server))];
        const newer = ids.find((id) => id !== status(spool).server) === undefined ? [] : ids;
        const out = paneOutput(
          ev.filter((e) => e.event.server === status(spool).server),
          "%0",
        );
        return newer.length === 2 && out.includes("second-4") ? { ev, out } : undefined;
      },
      30_000,
      "the second server's output",
    );
    const now = status(spool).server;
    const ofNew = servers.ev.filter((e) => e.event.server === now);
    for (const t of ["session-open", "window-open", "pane-open"])
      expect(
        ofNew.some((e) => e.event.type === t),
        t,
      ).toBe(true);
    expect(servers.out).toContain("echo second-$((2+2))");
    expect(servers.out).not.toContain("first-2");
  });

  it("SIGTERM while waiting exits promptly with 0", { timeout: 60_000 }, async () => {
    const dir = tempDir("tt-lifecycle-");
    const socket = `ttw-${randomBytes(4).toString("hex")}`;
    execFileSync("sh", ["-c", `echo tt_unused > ${join(dir, "token")}`]);
    const agent = startAgent({
      logUrl: `http://127.0.0.1:${await freePort()}`,
      tokenFile: join(dir, "token"),
      host: "offline",
      socket,
      spool: join(dir, "spool"),
    });
    started.procs.push(agent);
    await until(async () => /waiting for the tmux server/.test(agent.stderr()), 30_000, "waiting");
    // Its signal handlers are in place once it says it started.
    await agent.waitFor(/capturing into/, 30_000);
    const t0 = Date.now();
    agent.child.kill("SIGTERM");
    expect(await exitWithin(agent, 5000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

// Root without the capabilities that pass file permissions is a user the socket's directory
// refuses: tmux says "Permission denied", which must be refused, not waited on as "no server".
const DROP_DAC = [
  "setpriv",
  "--bounding-set=-dac_override,-dac_read_search",
  "--inh-caps=-dac_override,-dac_read_search",
  "--",
];
const canDropDac =
  canActAsOther && spawnSync(DROP_DAC[0]!, [...DROP_DAC.slice(1), "true"]).status === 0;

describe.skipIf(!canActAsOther)("a tmux server of another user", () => {
  for (const [who, via] of [
    ["root", []],
    ["a user its socket directory refuses (root without DAC capabilities)", DROP_DAC],
  ] as const) {
    it.skipIf(via.length > 0 && !canDropDac)(
      `is refused at start with exit 2 when the agent is ${who}, naming both users and the unit to run, before the spool is made`,
      { timeout: 60_000 },
      async () => {
        const dir = tempDir("tt-lifecycle-");
        chmodSync(dir, 0o755);
        const sockDir = join(dir, "sock");
        mkdirSync(sockDir, { mode: 0o700 });
        chownSync(sockDir, 65534, 65534);
        const sock = join(sockDir, "default");
        const asNobody = (...args: string[]) =>
          spawnSync("runuser", ["-u", "nobody", "--", "tmux", "-S", sock, ...args], {
            encoding: "utf8",
            timeout: 10_000,
          });
        expect(asNobody("-f", "/dev/null", "new-session", "-d", "sleep 600").status).toBe(0);
        try {
          execFileSync("sh", ["-c", `echo tt_unused > ${join(dir, "token")}`]);
          const spool = join(dir, "spool");
          const agent = run(
            [
              "agent",
              "--log",
              `http://127.0.0.1:${await freePort()}`,
              "--token-file",
              join(dir, "token"),
              "--host",
              "victim",
              "-S",
              sock,
              "--spool",
              spool,
            ],
            {},
            [...via],
          );
          started.procs.push(agent);
          expect(await exitWithin(agent, 30_000), agent.stderr()).toBe(2);
          // A root that cannot pass file permissions (some CI sandboxes) is the second case too.
          const statable = spawnSync("stat", [sock]).status === 0;
          expect(agent.stderr()).toContain(
            via.length || !statable
              ? `the tmux server at ${sock} cannot be reached (permission denied): ${sockDir} belongs to nobody (uid 65534)`
              : `the tmux server at ${sock} runs as nobody (uid 65534)`,
          );
          expect(agent.stderr()).toContain("but the agent runs as root (uid 0)");
          expect(agent.stderr()).toContain("tmuxtrail-agent@nobody");
          expect(existsSync(spool)).toBe(false);
        } finally {
          asNobody("kill-server");
        }
      },
    );
  }
});

describe("a pane whose output does not arrive", () => {
  it("pipe replaced by someone else: the pane changes but its file does not grow; status says NOT ARRIVING and exits 1", {
    timeout: 120_000,
  }, async () => {
    const v = await offlineAgent();
    type(v.socket, "echo arriving");
    await until(async () => readFileSync(v.raw, "latin1").includes("arriving"), 30_000, "output");
    expect(status(v.spool).paneStates).toEqual({ "%0": "captured" });
    tmux(v.socket, "pipe-pane", "-O", "-t", "%0", "cat > /dev/null");
    // Typed again until seen: a change in the same poll as the last growth is not one.
    let n = 0;
    const st = await until(
      async () => {
        const s = status(v.spool);
        if (/NOT ARRIVING/.test(s.paneStates["%0"])) return s;
        if (n++ % 5 === 0) type(v.socket, `echo elsewhere-${n}`);
        return undefined;
      },
      30_000,
      "the pane not arriving",
    );
    expect(st.paneStates["%0"]).toMatch(
      /output NOT ARRIVING: the pane changed at .* has not grown/,
    );
    const cli = run(["agent", "status", "--spool", v.spool]);
    expect(await cli.exited).toBe(1);
    expect(cli.stdout()).toMatch(/pane %0 +output NOT ARRIVING/);
  });

  it("a writer that cannot write its file: PIPE CLOSED repeats and the status says NOT ARRIVING until output arrives again", {
    timeout: 150_000,
  }, async (ctx) => {
    const v = await offlineAgent();
    // An immutable file: not even root's writer can append to it (as a user's writer cannot
    // write root's spool). Needs an ext4-like file system and CAP_LINUX_IMMUTABLE.
    if (spawnSync("chattr", ["+i", v.raw]).status !== 0) {
      ctx.skip();
      return;
    }
    try {
      // The writer that has the file open is replaced by one that must open it again.
      tmux(v.socket, "pipe-pane", "-t", "%0");
      // Typed again until tmux closed the pipe three times (each writer dies at its first write).
      let n = 0;
      await until(
        async () => {
          if ((v.agent.stderr().match(/PIPE CLOSED/g) ?? []).length >= 3) return true;
          if (n++ % 5 === 0) type(v.socket, `echo lost-${n}`);
          return false;
        },
        60_000,
        "PIPE CLOSED to repeat",
      );
      const st = await until(
        async () => {
          const s = status(v.spool);
          return /NOT ARRIVING/.test(s.paneStates["%0"]) ? s : undefined;
        },
        30_000,
        "the pane not arriving",
      );
      expect(st.paneStates["%0"]).toMatch(
        /output NOT ARRIVING: tmux closed its output pipe \d+ time/,
      );
      const cli = run(["agent", "status", "--spool", v.spool]);
      expect(await cli.exited).toBe(1);
      expect(cli.stdout()).toMatch(/pane %0 +output NOT ARRIVING/);
    } finally {
      spawnSync("chattr", ["-i", v.raw]);
    }
    // Writable again: the next output arrives and the pane is captured again.
    await until(
      async () => {
        type(v.socket, "echo back");
        await new Promise((r) => setTimeout(r, 300));
        return status(v.spool).paneStates["%0"] === "captured";
      },
      30_000,
      "the pane captured again",
    );
  });
});
