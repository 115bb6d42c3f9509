// The agent learns its submit key's host at start (GET /v1/keys/self) and refuses to spool under
// another host: the log would answer 403 wrong-host to every batch, for ever (issue 17, item 2).

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve as listen, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkKeyHost } from "../../src/agent/key-host.ts";
import { UsageError } from "../../src/log/errors.ts";
import { runCli } from "../support/cli.ts";
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
