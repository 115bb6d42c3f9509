// The spool is private whatever the umask, end to end: everything the agent, the pipe-pane
// writer, tmux's run-shell hooks and the shell hook write into it (docs/design.md §7.7).
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { agentBed, agentOnTmux, eventsOf, paneOutput, tmux, until } from "../support/agent.ts";
import { modes } from "../support/private.ts";

const started = agentBed();

it("under umask 000, after output, a command, an attach and receipts, every directory in the spool is 0700 and every file 0600", {
  timeout: 180_000,
}, async () => {
  // The tmux server (so its pipe-pane writers and run-shell hooks), the shell in its pane and
  // the agent all start with umask 000.
  const umask = process.umask(0);
  const client = { kill: () => {} };
  let dir: string | undefined;
  try {
    const { host, socket, spool, log, ...t } = await agentOnTmux(started, {
      name: "umask",
      log: { logKey: true },
      before: ({ dir, socket }) => {
        tmux(socket, "run-shell", `umask > ${join(dir, "tmux-umask")}`);
        expect(readFileSync(join(dir, "tmux-umask"), "utf8").trim(), "tmux's umask").toBe("0000");
      },
      paneReady: true,
    });
    dir = t.dir;
    tmux(socket, "send-keys", "-t", "work", "echo private-$((6*7))", "Enter");
    // A client attaches (control mode needs no terminal) and detaches: the run-shell hooks write.
    const cc = spawn("tmux", ["-L", socket, "-C", "attach", "-t", "work"], { stdio: "pipe" });
    client.kill = () => cc.kill("SIGKILL");
    await until(
      async () => readFileSync(join(spool, "hooks.log"), "utf8").includes("attach"),
      15_000,
      "the attach hook",
    );
    cc.stdin.end();
    await until(
      async () => readFileSync(join(spool, "hooks.log"), "utf8").includes("detach"),
      15_000,
      "the detach hook",
    );
    await until(
      async () => {
        const ev = await eventsOf(log.url, host);
        return (
          paneOutput(ev, "%0").includes("private-42") &&
          ev.some((e) => e.event.type === "command") &&
          ev.some((e) => e.event.type === "attach")
        );
      },
      60_000,
      "output, the command and the attach in the log",
    );
    await until(
      async () => JSON.parse(readFileSync(join(spool, "status.json"), "utf8")).receipts.proven > 0,
      60_000,
      "a receipt proven",
    );
    const raw = join(spool, "raw");
    const server = readdirSync(raw)[0]!;
    const m = modes(spool);
    // What must be there for the check to mean anything.
    for (const f of [
      "events.jsonl",
      "state.json",
      "status.json",
      "receipts.jsonl",
      "hooks.log",
      "commands.log",
      join("raw", server, "0.out"),
    ])
      expect(m, f).toHaveProperty([f]);
    expect(existsSync(join(spool, "raw", server))).toBe(true);
    const wrong = Object.entries(m).filter(([path, mode]) => {
      const isDir = path === "." || path === "raw" || path === join("raw", server);
      return mode !== (isDir ? "700" : "600");
    });
    expect(wrong, JSON.stringify(m)).toEqual([]);
  } finally {
    client.kill();
    process.umask(umask);
    if (dir) chmodSync(dir, 0o700);
  }
});
