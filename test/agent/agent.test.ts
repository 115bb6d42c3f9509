// The agent against real tmux (private -L sockets; only the servers started here are killed).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  agentBed,
  agentOnTmux,
  eventsOf,
  freePort,
  paneOutput,
  printed,
  streamsContiguous,
  tmux,
  until,
} from "../support/agent.ts";
import { run } from "../support/proc.ts";
import { serve } from "../support/serve.ts";

const started = agentBed();

const setup = (opts: { port?: number } = {}) =>
  agentOnTmux(started, {
    name: "agent",
    log: {
      args: opts.port ? ["--port", String(opts.port), "--checkpoint-interval", "200ms"] : [],
      logKey: true,
    },
    paneReady: true,
  });

const type = (socket: string, keys: string) =>
  tmux(socket, "send-keys", "-t", "work", keys, "Enter");

describe("agent", () => {
  it("records pane output, commands with exit codes and lifecycle events, seq contiguous per stream", {
    timeout: 90_000,
  }, async () => {
    const t = await setup();
    type(t.socket, "echo hello-from-$((40+2))");
    type(t.socket, "false");
    // A secret printed in two halves, 300 ms apart, is still redacted whole.
    type(t.socket, "printf 'key AKIAIOSF'; sleep 0.3; printf 'ODNN7EXAMPLE done\\n'");
    tmux(t.socket, "split-window", "-t", "work");
    const events = await until(
      async () => {
        const ev = await eventsOf(t.log.url, t.host);
        const cmds = ev.filter((e) => e.event.type === "command");
        return paneOutput(ev, "%0").includes("hello-from-42") &&
          paneOutput(ev, "%0").includes("] done") &&
          cmds.length >= 2 &&
          ev.some((e) => e.event.pane === "%1")
          ? ev
          : undefined;
      },
      30_000,
      "the events in the log",
    );
    const commands = events
      .filter((e) => e.event.type === "command")
      .map((e) => JSON.parse(e.content!.toString()));
    expect(commands.map((c) => [c.line, c.exit])).toEqual(
      expect.arrayContaining([
        ["echo hello-from-$((40+2))", 0],
        ["false", 1],
      ]),
    );
    const out0 = paneOutput(events, "%0");
    expect(out0).toMatch(/key \[REDACTED:aws-access-key-id\] done/);
    expect(out0).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(
      out0.replace(/printf 'key AKIAIOSF'; sleep 0.3; printf 'ODNN7EXAMPLE done\\n'/g, ""),
    ).not.toContain("ODNN7EXAMPLE");
    const types = new Set(events.map((e) => e.event.type));
    for (const ty of ["session-open", "window-open", "pane-open", "output", "command"])
      expect(types).toContain(ty);
    expect(streamsContiguous(events)).toBe(true);
    // Every acknowledged event is proven included in the signed tree, from the tiles.
    const status = await until(
      async () => {
        const st = JSON.parse(readFileSync(join(t.spool, "status.json"), "utf8"));
        return st.receipts.proven >= events.length && st.receipts.failed === 0 ? st : undefined;
      },
      30_000,
      "the receipts to be proven",
    );
    expect(status.panes).toEqual(expect.arrayContaining(["%0", "%1"]));
    const cli = run(["agent", "status", "--spool", t.spool]);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toMatch(/2 pane\(s\) captured/);
    expect(cli.stdout()).toMatch(/0 FAILED/);
  });

  it("log down during typing, then up: nothing lost, nothing duplicated", {
    timeout: 120_000,
  }, async () => {
    const port = await freePort();
    const t = await setup({ port });
    type(t.socket, "echo before-the-outage");
    await until(
      async () => paneOutput(await eventsOf(t.log.url, t.host), "%0").includes("before-the-outage"),
      30_000,
      "first output",
    );
    t.log.proc.child.kill("SIGTERM");
    await t.log.proc.exited;
    for (let i = 0; i < 5; i++) type(t.socket, `echo during-outage-${i}`);
    // The outage lasts a while after the typing (the agent meets it): a pause under test, not a wait.
    await new Promise((r) => setTimeout(r, 1500));
    const back = await serve({
      data: join(t.dir, "log"),
      schema: started.db?.schema,
      args: ["--port", String(port)],
    });
    started.procs.push(back.proc);
    const events = await until(
      async () => {
        const ev = await eventsOf(back.url, t.host);
        return printed(paneOutput(ev, "%0"), "during-outage-4") === 1 ? ev : undefined;
      },
      60_000,
      "the outage's output",
    );
    const out = paneOutput(events, "%0");
    for (let i = 0; i < 5; i++)
      expect(printed(out, `during-outage-${i}`), `during-outage-${i}`).toBe(1);
    expect(streamsContiguous(events)).toBe(true);
    expect(events.filter((e) => e.event.type === "command").length).toBeGreaterThanOrEqual(6);
  });

  it("kill -9 of the agent mid-stream, then restart: nothing lost, the sequence continues", {
    timeout: 120_000,
  }, async () => {
    const t = await setup();
    type(t.socket, "for i in $(seq 1 3000); do echo line-$i; done; echo loop-done");
    await until(
      async () => /line-\d/.test(tmux(t.socket, "capture-pane", "-p", "-t", "work")),
      30_000,
      "the loop printing",
    );
    t.agent.child.kill("SIGKILL");
    await t.agent.exited;
    await t.startAgent();
    const events = await until(
      async () => {
        const ev = await eventsOf(t.log.url, t.host);
        return printed(paneOutput(ev, "%0"), "loop-done") === 1 ? ev : undefined;
      },
      60_000,
      "the loop's output",
    );
    const out = paneOutput(events, "%0");
    for (const i of [1, 777, 1500, 2999, 3000])
      expect(printed(out, `line-${i}`), `line-${i}`).toBe(1);
    const lines = out.match(/(?<=[\r\n])line-\d+\r\n/g) ?? [];
    expect(lines.length).toBe(3000);
    expect(new Set(lines).size).toBe(3000);
    expect(streamsContiguous(events)).toBe(true);
    // The restarted agent did not announce the same session, window and pane again.
    expect(
      events.filter((e) => e.event.type === "pane-open" && e.event.pane === "%0"),
    ).toHaveLength(1);
  });

  it("with the log unreachable the spool fills to its cap, then capture pauses loudly and nothing is dropped", {
    timeout: 90_000,
  }, async () => {
    const { socket, spool, agent } = await agentOnTmux(started, {
      name: "agent",
      log: false,
      agentArgs: ["--spool-cap", "2KiB"],
    });
    for (let i = 0; i < 20; i++) type(socket, `echo offline-line-${i}-${"x".repeat(100)}`);
    await until(async () => /SPOOL FULL/.test(agent.stderr()), 30_000, "the spool-full message");
    // The pane's output is all on disk, waiting in the raw file.
    const rawDir = join(spool, "raw");
    const files = () =>
      readdirSync(rawDir).flatMap((d) =>
        readdirSync(join(rawDir, d)).map((f) => join(rawDir, d, f)),
      );
    await until(
      async () => files().some((f) => readFileSync(f, "latin1").includes("offline-line-19-x")),
      30_000,
      "the raw output",
    );
    expect(agent.stderr()).toMatch(/log unreachable/);
  });

  it("a flooding pane: tmux stays responsive and the agent's memory stays bounded", {
    timeout: 180_000,
  }, async () => {
    const t = await setup();
    type(t.socket, "head -c 12000000 /dev/urandom | base64; echo flood-done");
    let maxRss = 0;
    let maxTmuxMs = 0;
    await until(
      async () => {
        const t0 = performance.now();
        tmux(t.socket, "display-message", "-p", "#{pane_id}");
        maxTmuxMs = Math.max(maxTmuxMs, performance.now() - t0);
        const rss =
          Number(
            /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${t.agent.child.pid}/status`, "utf8"))?.[1] ??
              0,
          ) * 1024;
        maxRss = Math.max(maxRss, rss);
        const s = JSON.parse(readFileSync(join(t.spool, "status.json"), "utf8"));
        if (s.unsentEvents !== 0) return false;
        return printed(paneOutput(await eventsOf(t.log.url, t.host), "%0"), "flood-done") === 1;
      },
      150_000,
      "the flood to be captured and sent",
    );
    // Every byte of the flood is in the log: 12,000,000 bytes base64 in 76-column lines.
    const out = paneOutput(await eventsOf(t.log.url, t.host), "%0");
    const b64 = out.match(/(?<=[\r\n])[A-Za-z0-9+/=]{1,76}\r\n/g) ?? [];
    expect(b64.join("").replace(/\r\n/g, "").length).toBe(16_000_000);
    expect(maxTmuxMs).toBeLessThan(2000);
    expect(maxRss).toBeLessThan(400 * 1024 * 1024);
  });
});
