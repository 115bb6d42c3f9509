// `tmuxtrail export` writes a session bundle v3 by default (the log streams it), a time window with
// --since/--until, v2 with --format v2, a playable asciicast with --cast from a v3 bundle; what it
// writes verifies with verify-bundle, whose output names the window and each pane's first..last
// seq; bad flags are a usage error (exit 2) and write nothing.

import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionId } from "../../src/core/session-id.ts";
import { runCli } from "../support/cli.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { tempDir } from "../support/serve.ts";

const S1 = sessionId("web-1", "default@1764050000", "$1");
const K = ["--log-key", TEST_KEY.verifierKey];
/** Event i of session $1 at minute i past 19:00 (panes %3 and %4 alternate). */
const at = (i: number) => new Date(Date.UTC(2026, 10, 24, 19, i, 0)).toISOString();

let log: TestLog;
let server: Server;
let url: string;
let dir: string;

beforeAll(async () => {
  log = await openTestLog({ publishIntervalMs: 100 });
  dir = tempDir("tt-export-window-");
  writeFileSync(join(dir, "token"), ADMIN);
  const batch: Record<string, unknown>[] = [];
  for (let i = 0; i < 60; i++) {
    batch.push(
      makeSubmission({
        session: "$1",
        pane: i % 2 ? "%4" : "%3",
        seq: i >> 1,
        time: at(i),
        content: `line ${i}\r\n`,
      }),
    );
  }
  const res = await log.req("/v1/events?wait=checkpoint", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  // The log over HTTP, its answers streamed through as they come (v3 is written as it is read).
  server = createServer(async (req, out) => {
    const r = await log.req(req.url ?? "/", {
      token: (req.headers.authorization ?? "").replace(/^Bearer /, "") || null,
    });
    out.writeHead(r.status, Object.fromEntries(r.headers));
    const reader = r.body?.getReader();
    for (let c = await reader?.read(); c && !c.done; c = await reader!.read()) out.write(c.value);
    out.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await log?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const exportTo = (out: string, ...more: string[]) =>
  runCli(["export", S1, "--log", url, "--token-file", join(dir, "token"), "--out", out, ...more]);
const read = (f: string) => JSON.parse(readFileSync(f, "utf8"));

describe("export", () => {
  it("writes v3 by default, which verify-bundle verifies", async () => {
    const f = join(dir, "whole.json");
    const e = await exportTo(f, ...K, "--json");
    expect(e.code, e.err).toBe(0);
    expect(JSON.parse(e.out)).toMatchObject({
      ok: true,
      verified: true,
      format: "tmuxtrail-session-bundle/v3",
      events: 60,
    });
    const b = read(f);
    expect(b.format).toBe("tmuxtrail-session-bundle/v3");
    expect(b.casts).toBeUndefined();
    const v = await runCli(["verify-bundle", f, ...K]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain("events: 60 of 60 checked");
    expect(v.out).toContain("stream %3: open (seq 0..29, no pane-close in this bundle)");
    expect(v.out).toContain("casts: none in the bundle; regenerated from the verified events");
    expect(v.out).not.toContain("window:");
    expect(v.out).toContain("bundle verified");
  });

  it("--since/--until writes a window; verify-bundle names it and each pane's seqs", async () => {
    const f = join(dir, "window.json");
    const e = await exportTo(f, ...K, "--since", at(20), "--until", at(41));
    expect(e.code, e.err).toBe(0);
    const b = read(f);
    expect(b.window).toEqual({ since: at(20), until: at(41) });
    expect(b.events.length).toBe(21);
    const v = await runCli(["verify-bundle", f, ...K]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`window: ${at(20)} to ${at(41)}`);
    expect(v.out).toContain("stream %3: open (seq 10..20, no pane-close in this window)");
    expect(v.out).toContain("stream %4: open (seq 10..19, no pane-close in this window)");
    expect(v.out).toContain(`the session goes on in the next window (since ${at(41)})`);
    expect(v.out).toContain("bundle verified");
    // A date is its midnight UTC; an open end runs to the session's end.
    const d = join(dir, "date.json");
    const e2 = await exportTo(d, ...K, "--since", "2026-11-24", "--json");
    expect(e2.code, e2.err).toBe(0);
    expect(JSON.parse(e2.out)).toMatchObject({
      window: { since: "2026-11-24T00:00:00.000Z" },
      events: 60,
    });
    expect((await runCli(["verify-bundle", d, ...K])).code).toBe(0);
  });

  it("--cast PANE writes a playable asciicast from a v3 bundle, of a window too", async () => {
    const f = join(dir, "pane.cast");
    const e = await exportTo(f, ...K, "--cast", "%3", "--since", at(20));
    expect(e.code, e.err).toBe(0);
    const lines = readFileSync(f, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ version: 2 });
    const text = lines
      .slice(1)
      .map((l: unknown[]) => l[2])
      .join("");
    expect(text).toContain("line 20\r\n");
    expect(text).not.toContain("line 18\r\n");
    expect(lines.slice(1).every((l: unknown[]) => l[1] === "o")).toBe(true);
  });

  it("--format v2 writes the per-event form; --casts puts the casts in a v3 bundle", async () => {
    const f2 = join(dir, "v2.json");
    expect((await exportTo(f2, ...K, "--format", "v2")).code).toBe(0);
    expect(read(f2).format).toBe("tmuxtrail-session-bundle/v2");
    expect(Object.keys(read(f2).casts).sort()).toEqual(["%3", "%4"]);
    expect((await runCli(["verify-bundle", f2, ...K])).code).toBe(0);
    const f3 = join(dir, "casts.json");
    expect((await exportTo(f3, ...K, "--casts")).code).toBe(0);
    expect(Object.keys(read(f3).casts).sort()).toEqual(["%3", "%4"]);
    const v = await runCli(["verify-bundle", f3, ...K]);
    expect(v.code).toBe(0);
    expect(v.out).toContain("casts regenerated from the events and identical: %3, %4");
  });

  it("bad flags are a usage error (exit 2) and write nothing", async () => {
    const f = join(dir, "bad.json");
    for (const more of [
      ["--since", "yesterday"],
      ["--until", "2026-13-45"],
      ["--since", "19:00"],
      ["--since", at(5), "--until", at(5)],
      ["--since", at(6), "--until", at(5)],
      ["--format", "v4"],
      ["--format", "v2", "--since", at(5)],
      ["--format", "v2", "--casts"],
    ]) {
      const r = await exportTo(f, ...K, ...more);
      expect(r.code, more.join(" ")).toBe(2);
      expect(r.err, more.join(" ")).toMatch(/--since|--until|--format/);
      expect(existsSync(f)).toBe(false);
    }
  });
});
