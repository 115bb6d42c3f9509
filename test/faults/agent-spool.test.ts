// Fault drill 3a: the agent with the log down for a long stretch and a tiny spool cap. What
// test/agent/agent.test.ts does not cover: the log coming back *after* the cap was hit. Expected:
// the spool drains, capture resumes by itself, every line printed before, during and after the
// pause arrives exactly once, and each stream's seq is contiguous.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
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
import { serve } from "../support/serve.ts";

const started = agentBed();

it("log down past the spool cap, then back: the spool drains and every line arrives once, seq contiguous", {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const args = ["--port", String(port), "--checkpoint-interval", "200ms"];
  // The log exists (the agent's key is made there), then goes down before the agent starts.
  const t = await agentOnTmux(started, {
    name: "fault",
    log: { args },
    before: async ({ log }) => {
      log!.proc.child.kill("SIGTERM");
      await log!.proc.exited;
    },
    agentArgs: ["--spool-cap", "2KiB"],
  });
  const { dir, host, socket, spool, agent } = t;
  const type = (keys: string) => tmux(socket, "send-keys", "-t", "work", keys, "Enter");
  for (let i = 0; i < 20; i++) type(`echo capped-${i}-${"y".repeat(100)}`);
  await until(async () => /SPOOL FULL/.test(agent.stderr()), 30_000, "the spool-full message");
  // More output while capture is paused: it waits in the raw file.
  for (let i = 20; i < 30; i++) type(`echo capped-${i}-${"y".repeat(100)}`);
  await until(
    async () => tmux(socket, "capture-pane", "-p", "-t", "work").includes("capped-29-y"),
    30_000,
    "the last output printed",
  );
  const back = await serve({ data: join(dir, "log"), schema: started.db?.schema, args });
  started.procs.push(back.proc);
  expect(back.url).toBe(t.log.url);
  // Capture resumes by itself: output printed after the log is back arrives too.
  type("echo after-the-cap");
  const events = await until(
    async () => {
      const ev = await eventsOf(back.url, host);
      const out = paneOutput(ev, "%0");
      if (printed(out, "after-the-cap") !== 1) return undefined;
      const st = JSON.parse(readFileSync(join(spool, "status.json"), "utf8"));
      return st.unsentEvents === 0 ? ev : undefined;
    },
    60_000,
    "the spool to drain and the last line to arrive",
  );
  const out = paneOutput(events, "%0");
  for (let i = 0; i < 30; i++)
    expect(printed(out, `capped-${i}-${"y".repeat(100)}`), `capped-${i}`).toBe(1);
  expect(streamsContiguous(events)).toBe(true);
  // No stream position was sent twice with different content (the log would have said 409).
  expect(agent.stderr()).not.toMatch(/409|conflict/i);
  expect(events.filter((e) => e.event.type === "command").length).toBeGreaterThanOrEqual(31);
});
