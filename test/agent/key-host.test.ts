// The agent learns its submit key's host at start (GET /v1/keys/self) and refuses to spool under
// another host: the log would answer 403 wrong-host to every batch, for ever (issue 17, item 2).
// When the log was down at start it asks again before its first send; a 403 wrong-host is FAILED
// with the fix, not a silent retry; a spool holding unsent events of another host is refused.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve as listen, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkKeyHost } from "../../src/agent/key-host.ts";
import { Sender, WRONG_HOST_RETRY_MS } from "../../src/agent/sender.ts";
import { Spool, type SpoolLine } from "../../src/agent/spool.ts";
import { UsageError } from "../../src/core/errors.ts";
import { runCli } from "../support/cli.ts";
import { makeSubmission } from "../support/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";

let t: TestLog;
let server: ServerType;
let url: string;
let token: string;
let dir: string;

beforeAll(async () => {
  t = await openTestLog();
  const res = await t.req("/v1/keys", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "agent web-1", scopes: ["submit"], host: "web-1" }),
  });
  token = ((await res.json()) as { token: string }).token;
  server = listen({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), "tmuxtrail-key-host-"));
  writeFileSync(join(dir, "token"), token, { mode: 0o600 });
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a submit key's own host", () => {
  it("GET /v1/keys/self tells the bearer its own name, scopes and host, and nobody else's", async () => {
    const self = await t.req("/v1/keys/self", { token });
    expect(self.status).toBe(200);
    expect(await self.json()).toEqual({ name: "agent web-1", scopes: ["submit"], host: "web-1" });
    expect((await t.req("/v1/keys/self", { token: null })).status).toBe(401);
  });

  it("a key bound to another host is a usage error naming both hosts and the flag", async () => {
    const err = await checkKeyHost(url, token, "laptop").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('bound to host "web-1"');
    expect((err as Error).message).toContain('records as host "laptop"');
    expect((err as Error).message).toContain('--host "web-1"');
    expect(await checkKeyHost(url, token, "web-1")).toEqual({ checked: true, host: "web-1" });
  });

  it("an unreachable log is no error at start: the agent must spool while the log is down", async () => {
    const r = await checkKeyHost("http://127.0.0.1:9", token, "laptop", 1000);
    expect(r.checked).toBe(false);
  });

  it("the agent exits 2 with the fix before it spools anything", async () => {
    const spool = join(dir, "spool");
    const r = await runCli([
      "agent",
      "--log",
      url,
      "--token-file",
      join(dir, "token"),
      "--host",
      "laptop",
      "--spool",
      spool,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--host "web-1"');
    expect(existsSync(spool) ? readdirSync(spool) : []).toEqual([]);
  });
});

/** A spool holding `n` unsent events recorded as `host`. */
function spoolOf(dir: string, host: string, n: number): Spool {
  const spool = new Spool(dir, () => {});
  const lines = Array.from({ length: n }, (_, seq) => ({
    sub: makeSubmission({ host, seq }) as SpoolLine["sub"],
  }));
  spool.append(lines);
  return spool;
}

describe("a key bound to another host, found after start", () => {
  it("the log was down at start: before the first send the agent asks again and says FAILED with the fix, the events stay", async () => {
    const spool = spoolOf(mkdtempSync(join(dir, "spool-")), "laptop", 3);
    const logged: string[] = [];
    const sender = new Sender(spool, url, token, (m) => logged.push(m), "laptop", false);
    await sender.drain();
    expect(sender.status.wrongHost).toBe("web-1");
    expect(sender.status.failed).toContain('bound to host "web-1"');
    expect(sender.status.failed).toContain('records as host "laptop"');
    expect(sender.status.failed).toContain('--host "web-1"');
    expect(sender.status.failed).toContain('--host "laptop"');
    expect(logged.join("\n")).toMatch(/ALARM: .*wrong-host.*3 event\(s\) stay in the spool/);
    expect(spool.state.lines - spool.state.acked).toBe(3);
    // Retried slowly: nothing is asked again before a minute has passed.
    logged.length = 0;
    await sender.drain(Date.now() + WRONG_HOST_RETRY_MS - 5000);
    expect(logged).toEqual([]);
    spool.close();
  });

  it("a 403 wrong-host answer to POST /v1/events is FAILED with both hosts and the flag, an ALARM line, nothing dropped", async () => {
    const spool = spoolOf(mkdtempSync(join(dir, "spool-")), "laptop", 2);
    const logged: string[] = [];
    // The start-up check passed (a key bound to no host, say, rebound since): the log's 403 tells.
    const sender = new Sender(spool, url, token, (m) => logged.push(m), "laptop", true);
    await sender.drain();
    expect(sender.status.wrongHost).toBe("web-1");
    expect(sender.status.failed).toMatch(
      /403 wrong-host.*bound to host "web-1".*records as host "laptop"/,
    );
    expect(logged.some((l) => l.startsWith("ALARM: "))).toBe(true);
    expect(spool.state.acked).toBe(0);
    expect(spool.pending(10, 1 << 20).lines).toHaveLength(2);
    spool.close();
  });

  it("agent status prints the wrong-host failure and exits 1", async () => {
    const spoolDir = mkdtempSync(join(dir, "status-"));
    writeFileSync(
      join(spoolDir, "status.json"),
      JSON.stringify({
        pid: 1,
        updated: new Date().toISOString(),
        server: "default@1",
        waiting: null,
        log: url,
        panes: [],
        paneStates: {},
        spoolDepthBytes: 10,
        unsentEvents: 2,
        lastAckedIndex: null,
        connected: false,
        lastError: "x",
        sendFailed:
          'the log refuses this host\'s events (403 wrong-host): the submit key is bound to host "web-1" but the agent records as host "laptop"; fix: --host "web-1"',
        wrongHost: "web-1",
        refusedAnswers: 0,
        witnessQuorum: null,
        receipts: {
          total: 0,
          proven: 0,
          failed: 0,
          unproven: 0,
          waiting: null,
          alarm: null,
          checkpoint: null,
        },
      }),
    );
    const r = await runCli(["agent", "status", "--spool", spoolDir]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/sending +FAILED: .*bound to host "web-1".*records as host "laptop"/);
  });
});

describe("a spool holding unsent events of another host", () => {
  it("the agent exits 2 at start, naming how many events, their host and what to do; the spool is untouched", async () => {
    const spoolDir = join(mkdtempSync(join(dir, "held-")), "spool");
    spoolOf(spoolDir, "laptop", 4).close();
    const before = readFileSync(join(spoolDir, "events.jsonl"));
    // The key is bound to web-1 and the agent runs as web-1: only the spool is wrong.
    const r = await runCli([
      "agent",
      "--log",
      url,
      "--token-file",
      join(dir, "token"),
      "--host",
      "web-1",
      "--spool",
      spoolDir,
      "-L",
      `tt-none-${process.pid}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('4 unsent event(s) recorded as host "laptop"');
    expect(r.err).toContain('--host "laptop"');
    expect(r.err).toMatch(/move the spool aside/);
    expect(readFileSync(join(spoolDir, "events.jsonl")).equals(before)).toBe(true);
  });
});
