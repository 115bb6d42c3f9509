// Fault drill 1b: kill -9 of the log while an agent streams a busy pane into it, three times at
// random points, the log restarted on the same data and port each time. Expected: the agent keeps
// everything in its spool while the log is gone and drains it once it is back; every line the
// pane printed is in the log exactly once, each stream's seq is contiguous, no submission was a
// conflict (a batch cut off by the kill is re-sent identically: leaves or duplicates, never 409).
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
import { type Served, serve } from "../support/serve.ts";

const started = agentBed();

const LINES = 600;
const line = (i: number) => `agent-line-${i}-${"z".repeat(60)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("kill -9 of the log three times while an agent streams: the spool drains, every line arrives once", {
  timeout: 180_000,
}, async () => {
  const port = await freePort();
  const args = ["--port", String(port), "--checkpoint-interval", "200ms"];
  const t = await agentOnTmux(started, { name: "kill", log: { args } });
  const { host, socket, spool, agent } = t;
  let log: Served = t.log;
  // ~15 s of steady output.
  tmux(
    socket,
    "send-keys",
    "-t",
    "work",
    `for i in $(seq 1 ${LINES}); do echo agent-line-$i-${"z".repeat(60)}; sleep 0.025; done; echo all-printed`,
    "Enter",
  );
  for (let round = 0; round < 3; round++) {
    await sleep(1000 + Math.random() * 2500);
    log.proc.child.kill("SIGKILL");
    await log.proc.exited;
    await sleep(300 + Math.random() * 1500); // the agent spools meanwhile
    log = await serve({ data: join(t.dir, "log"), schema: started.db?.schema, args });
    started.procs.push(log.proc);
    expect(log.url).toBe(`http://127.0.0.1:${port}`);
  }
  const events = await until(
    async () => {
      const ev = await eventsOf(log.url, host);
      if (printed(paneOutput(ev, "%0"), "all-printed") !== 1) return undefined;
      const st = JSON.parse(readFileSync(join(spool, "status.json"), "utf8"));
      return st.unsentEvents === 0 ? ev : undefined;
    },
    90_000,
    "every line in the log and the spool drained",
  );
  const out = paneOutput(events, "%0");
  const wrong = Array.from({ length: LINES }, (_, i) => i + 1).filter(
    (i) => printed(out, line(i)) !== 1,
  );
  expect(wrong, `lines not in the log exactly once: ${wrong.join(", ")}`).toEqual([]);
  expect(streamsContiguous(events)).toBe(true);
  // The drill is only a drill if the agent saw the log gone and held events meanwhile.
  expect(agent.stderr()).toMatch(/log unreachable/);
  expect(agent.stderr()).not.toMatch(/\b409\b|conflict/i);
  expect(agent.child.exitCode).toBeNull();
});
