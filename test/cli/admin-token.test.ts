// Which admin token `keys` and `erase` send: the explicit one before the default file, so a
// ./data/admin.token left by `npm start` never shadows TMUXTRAIL_ADMIN_TOKEN (issue 17, item 1).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { adminToken } from "../../src/cli/log-api.ts";
import { runCli } from "../support/cli.ts";

const cwd = process.cwd();
const saved = { admin: process.env.TMUXTRAIL_ADMIN_TOKEN, token: process.env.TMUXTRAIL_TOKEN };
let dir: string;
let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  // A checkout where `npm start` once ran: ./data/admin.token holds that log's token.
  dir = mkdtempSync(join(tmpdir(), "tmuxtrail-admin-token-"));
  mkdirSync(join(dir, "data"));
  writeFileSync(join(dir, "data", "admin.token"), "stale-file-token\n");
  writeFileSync(join(dir, "explicit.token"), "explicit-file-token\n");
  process.chdir(dir);
  // A log that knows only "env-token".
  server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? "");
    const ok = req.headers.authorization === "Bearer env-token";
    res.writeHead(ok ? 200 : 401, { "Content-Type": "application/json" });
    res.end(ok ? "[]" : JSON.stringify({ error: { code: "unauthorized", message: "bad token" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  process.env.TMUXTRAIL_ADMIN_TOKEN = saved.admin;
  process.env.TMUXTRAIL_TOKEN = saved.token;
  if (saved.admin === undefined) delete process.env.TMUXTRAIL_ADMIN_TOKEN;
  if (saved.token === undefined) delete process.env.TMUXTRAIL_TOKEN;
});
afterAll(async () => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
  await new Promise((r) => server.close(r));
});

describe("the admin token of keys and erase", () => {
  it("TMUXTRAIL_ADMIN_TOKEN beats a ./data/admin.token left by an earlier npm start", async () => {
    process.env.TMUXTRAIL_ADMIN_TOKEN = "env-token";
    expect(adminToken(undefined)).toEqual({
      token: "env-token",
      tokenSource: "$TMUXTRAIL_ADMIN_TOKEN",
    });
    const r = await runCli(["keys", "list", "--log", url]);
    expect(r.code, r.err).toBe(0);
    expect(seen.at(-1)).toBe("Bearer env-token");
  });

  it("an explicit --token-file beats the variable and the default file", () => {
    process.env.TMUXTRAIL_ADMIN_TOKEN = "env-token";
    expect(adminToken("explicit.token")).toEqual({
      token: "explicit-file-token",
      tokenSource: "--token-file explicit.token",
    });
  });

  it("without the variable, ./data/admin.token is used, before TMUXTRAIL_TOKEN", () => {
    delete process.env.TMUXTRAIL_ADMIN_TOKEN;
    process.env.TMUXTRAIL_TOKEN = "generic-token";
    expect(adminToken(undefined)).toEqual({
      token: "stale-file-token",
      tokenSource: "./data/admin.token",
    });
  });

  it("a 401 says which token was sent", async () => {
    delete process.env.TMUXTRAIL_ADMIN_TOKEN;
    const r = await runCli(["keys", "list", "--log", url]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("(token used: ./data/admin.token)");
  });
});
