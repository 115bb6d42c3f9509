// The agent coexists with the user's tmux configuration (docs/design.md §7.1: hooks append, never
// replace), against real tmux: the user's hooks stay and run, the agent's are added beside them,
// come back when a re-sourced tmux.conf drops them, are not duplicated by a restart, and a clean
// stop removes exactly them.
import { spawn } from "node:child_process";
import { realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hookMarker } from "../../src/agent/hooks.ts";
import { agentBed, agentOnTmux, eventsOf, paneOutput, tmux, until } from "../support/agent.ts";

const started = agentBed();

const AGENT_HOOKS = [
  "after-new-session",
  "after-new-window",
  "after-split-window",
  "client-attached",
  "client-detached",
];

/** The global hook entries, `NAME[N] COMMAND` each, as tmux prints them. */
const hooks = (socket: string) =>
  tmux(socket, "show-hooks", "-g")
    .split("\n")
    .filter((l) => /^[a-z-]+\[\d+\] /.test(l));
const isAgents = (l: string) => /: tmuxtrail-[0-9a-f]{16};/.test(l);
const agentHookNames = (socket: string) =>
  hooks(socket)
    .filter(isAgents)
    .map((l) => l.slice(0, l.indexOf("[")))
    .sort();
const userHooks = (socket: string) => hooks(socket).filter((l) => !isAgents(l));
const option = (socket: string, name: string) => tmux(socket, "show-options", "-gqv", name).trim();
const spoolVariable = (socket: string) =>
  tmux(socket, "show-environment", "-g")
    .split("\n")
    .find((l) => l.startsWith("TMUXTRAIL_SPOOL="));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A new window; returns its pane once tmux has run the after-new-window hooks. */
const newWindow = (socket: string) =>
  tmux(socket, "new-window", "-d", "-t", "work:", "-P", "-F", "#{pane_id}").trim();
const piped = (socket: string, pane: string) =>
  tmux(socket, "display-message", "-p", "-t", pane, "#{pane_pipe}").trim() === "1";

describe("the agent's tmux hooks sit beside the user's", () => {
  it("the user's hooks stay and still run; the agent's capture a new window; a later user hook coexists; a clean stop removes exactly the agent's", {
    timeout: 180_000,
  }, async () => {
    let before: string[] = [];
    const { host, socket, log, agent } = await agentOnTmux(started, {
      name: "hooks",
      before: ({ socket }) => {
        tmux(socket, "set-hook", "-g", "after-new-window", "set-option -g @user-new-window ran");
        tmux(socket, "set-hook", "-g", "client-attached", "set-option -g @user-attached ran");
        before = userHooks(socket);
        expect(before).toHaveLength(2);
      },
    });
    // The user's entries are where they were, the agent's added once each.
    expect(userHooks(socket)).toEqual(before);
    expect(agentHookNames(socket)).toEqual(AGENT_HOOKS);

    // A new window: the user's hook ran, and the agent's piped the pane before new-window returned.
    const pane = newWindow(socket);
    expect(option(socket, "@user-new-window")).toBe("ran");
    expect(piped(socket, pane), "the new pane is piped by the agent's hook").toBe(true);
    tmux(socket, "send-keys", "-t", pane, "echo new-window-$((40+2))", "Enter");
    await until(
      async () => paneOutput(await eventsOf(log.url, host), pane).includes("new-window-42"),
      60_000,
      "the new window's output in the log",
    );

    // A client attaches: the user's hook and the agent's both run.
    const client = spawn("tmux", ["-L", socket, "-C", "attach", "-t", "work"], { stdio: "pipe" });
    try {
      await until(
        async () =>
          option(socket, "@user-attached") === "ran" &&
          (await eventsOf(log.url, host)).some((e) => e.event.type === "attach"),
        60_000,
        "the user's attach hook and the attach event",
      );
    } finally {
      client.kill("SIGKILL");
    }

    // A hook the user adds while the agent runs stays, beside the agent's, with no duplicate.
    tmux(socket, "set-hook", "-ga", "after-new-window", "set-option -g @user-late ran");
    // A few of the agent's hook checks pass (nothing to wait for: the check is that nothing changes).
    await sleep(2500);
    const withLate = userHooks(socket);
    expect(withLate).toEqual(
      expect.arrayContaining([...before, expect.stringMatching(/@user-late ran$/)]),
    );
    expect(withLate).toHaveLength(3);
    expect(agentHookNames(socket)).toEqual(AGENT_HOOKS);
    tmux(socket, "set-option", "-gu", "@user-new-window");
    const pane2 = newWindow(socket);
    expect([option(socket, "@user-new-window"), option(socket, "@user-late")]).toEqual([
      "ran",
      "ran",
    ]);
    expect(piped(socket, pane2)).toBe(true);

    // A clean stop: exactly the agent's entries and its spool variable are gone.
    expect(spoolVariable(socket)).toBeDefined();
    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    expect(hooks(socket)).toEqual(withLate);
    expect(spoolVariable(socket)).toBeUndefined();
  });

  it("a re-sourced tmux.conf that replaces or clears hook arrays: the agent's entries come back within seconds", {
    timeout: 60_000,
  }, async () => {
    const t = await agentOnTmux(started, { name: "hooks", log: false });
    const agent = t.agent;
    expect(agentHookNames(t.socket)).toEqual(AGENT_HOOKS);
    const conf = join(t.dir, "tmux.conf");
    writeFileSync(
      conf,
      [
        "set-hook -g after-new-window 'set-option -g @conf-hook ran'",
        "set-hook -gu client-attached",
        "set-environment -gu TMUXTRAIL_SPOOL",
        "",
      ].join("\n"),
    );
    tmux(t.socket, "source-file", conf);
    // What re-sourcing did: the arrays were replaced or cleared, the agent's entries with them.
    expect(agentHookNames(t.socket)).not.toContain("after-new-window");
    expect(agentHookNames(t.socket)).not.toContain("client-attached");
    await until(
      async () =>
        agentHookNames(t.socket).join() === AGENT_HOOKS.join() &&
        spoolVariable(t.socket) === `TMUXTRAIL_SPOOL=${realpathSync(t.spool)}`,
      5000,
      "the agent's hooks and spool variable back",
    );
    expect(userHooks(t.socket)).toEqual(["after-new-window[0] set-option -g @conf-hook ran"]);
    const pane = newWindow(t.socket);
    expect(option(t.socket, "@conf-hook")).toBe("ran");
    expect(piped(t.socket, pane)).toBe(true);
    expect(agent.stderr()).toMatch(/tmux hook after-new-window: the agent's entry was dropped/);
  });

  it("an agent restarted after kill -9 takes its old entries back: one each, the user's untouched", {
    timeout: 60_000,
  }, async () => {
    let before: string[] = [];
    const t = await agentOnTmux(started, {
      name: "hooks",
      log: false,
      before: ({ socket }) => {
        tmux(socket, "set-hook", "-g", "after-split-window", "set-option -g @user-split ran");
        tmux(socket, "set-hook", "-ga", "client-detached", "set-option -g @user-detached ran");
        before = userHooks(socket);
      },
    });
    const first = t.agent;
    first.child.kill("SIGKILL");
    await first.exited;
    // Left behind by the killed agent; one of them as an older version of the agent wrote it.
    expect(agentHookNames(t.socket)).toEqual(AGENT_HOOKS);
    const stale = hooks(t.socket).find((l) => isAgents(l) && l.startsWith("client-detached["))!;
    const entry = stale.slice(0, stale.indexOf(" "));
    const marker = hookMarker(realpathSync(t.spool));
    tmux(t.socket, "set-hook", "-g", entry, `run-shell ': ${marker}; true'`);
    await t.startAgent();
    expect(agentHookNames(t.socket)).toEqual(AGENT_HOOKS);
    expect(userHooks(t.socket)).toEqual(before);
    // The stale entry was overwritten in place with the current command.
    const now = hooks(t.socket).find((l) => l.startsWith(`${entry} `))!;
    expect(now).toContain("hooks.log");
    tmux(t.socket, "split-window", "-t", "work");
    expect(option(t.socket, "@user-split")).toBe("ran");
  });
});
