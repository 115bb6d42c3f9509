// The attacker is the log operator, with the server, the database and the signing key in hand,
// against the auditors that exist to catch them (issue 16, items 3-5):
//   - rebuilding the database under the same key with event #1 rewritten, behind the same URL:
//     `tail --state` and `audit --log --state` remember the checkpoint they verified and refuse the
//     new history (exit 1), where without a state they had nothing to compare with;
//   - deleting an event's content without an erasure event: `tail` fails (exit 1) instead of
//     printing "erased"; content named by the log's own erasure event is still "erased by #N";
//   - withholding the tiles of a newer signed checkpoint, so no proof can fail: `monitor` and
//     `mirror` raise the "unproven" alarm once that outlasts --unproven-after.
// The malicious log is two real in-process logs signed with the same key, behind one HTTP server
// the test switches between them (or makes answer 503, or rewrites), and directory logs written
// by hand with the test key, their tiles deleted.

import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type ServerType, serve as serveHttp } from "@hono/node-server";
import { afterEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/core/keys.ts";
import { until } from "../support/agent.ts";
import { runCli as cli } from "../support/cli.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN, ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { type Proc, run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";

const closers: (() => Promise<unknown>)[] = [];
const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.child.kill("SIGKILL");
    await p.exited;
  }
  for (const c of closers.splice(0).reverse()) await c();
});

const KEY = ["--log-key", TEST_KEY.verifierKey];

/** Events 0..n-1 of one pane with fixed salts: two logs given them hold the same leaves. */
function events(n: number, o: { from?: number; rewrite?: number; time?: string } = {}) {
  return Array.from({ length: n }, (_, i) => {
    const seq = (o.from ?? 0) + i;
    return makeSubmission({
      seq,
      salt: Buffer.alloc(32, seq),
      time: o.time ?? `2026-11-24T19:00:00.${String(seq).padStart(3, "0")}Z`,
      content: seq === o.rewrite ? "nothing to see here\r\n" : undefined,
    });
  });
}

async function post(log: TestLog, batch: unknown[]): Promise<void> {
  const res = await log.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(batch),
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
}

/** A real log (the test key) holding `batch`, covered by a checkpoint. */
async function logWith(batch: unknown[]): Promise<TestLog> {
  const log = await openTestLog();
  closers.push(() => log.close());
  await post(log, batch);
  await log.ctx.publisher.waitFor(batch.length, 10_000);
  return log;
}

type Rewrite = (path: string, body: unknown) => unknown;

/**
 * One URL in front of whichever log the operator shows now: `use` switches databases, `down`
 * answers 503 to everything, `rewrite` edits JSON answers.
 */
async function operatorUrl(first: TestLog) {
  const state: {
    log: TestLog;
    /** Takes over at the next checkpoint request: a round of a reader then sees one log only. */
    next?: TestLog;
    down: boolean;
    withholdTiles?: boolean;
    rewrite?: Rewrite;
  } = {
    log: first,
    down: false,
  };
  const server = await new Promise<ServerType>((resolve) => {
    const s = serveHttp(
      {
        fetch: async (req: Request) => {
          if (state.down) return new Response("maintenance\n", { status: 503 });
          if (state.next && new URL(req.url).pathname === "/checkpoint") {
            state.log = state.next;
            state.next = undefined;
          }
          if (state.withholdTiles && new URL(req.url).pathname.startsWith("/tile/"))
            return new Response("not found\n", { status: 404 });
          const res = await state.log.app.fetch(req);
          const path = new URL(req.url).pathname + new URL(req.url).search;
          if (!state.rewrite || !res.headers.get("Content-Type")?.includes("json")) return res;
          const body = state.rewrite(path, await res.json());
          return Response.json(body, { status: res.status });
        },
        port: 0,
        hostname: "127.0.0.1",
      },
      () => resolve(s),
    );
  });
  closers.push(
    () =>
      new Promise<void>((r) => {
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
        server.close(() => r());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    use(log: TestLog) {
      state.log = log;
    },
    /** The log served from the next checkpoint request on (not in the middle of a round). */
    useFromNextRound(log: TestLog) {
      state.next = log;
    },
  });
}

function tokenFile(): string {
  const f = join(tempDir("tt-op-auditors-"), "reader.token");
  writeFileSync(f, ADMIN);
  return f;
}

interface Line {
  index: number;
  event?: { seq: number; type: string };
  content?: string;
  erased: boolean;
  erasedBy?: number;
}
const lines = (out: string) =>
  out
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

describe("a log rebuilt under the same key with event #1 rewritten", () => {
  it("tail --state refuses the new history before printing any of it: exit 1, the state kept", {
    timeout: 60_000,
  }, async () => {
    const honest = await logWith(events(5));
    const rebuilt = await logWith(events(8, { rewrite: 1 }));
    const op = await operatorUrl(honest);
    const state = join(tempDir("tt-op-tail-"), "tail.checkpoint");
    const tail = ["tail", "--log", op.url, "--token-file", tokenFile(), ...KEY, "--json"];

    const first = await cli([...tail, "--state", state]);
    expect(first.code, first.err).toBe(0);
    expect(lines(first.out).map((l) => l.content)).toContain("line 1\r\n");
    const kept = readFileSync(state, "utf8");

    op.use(rebuilt);
    // Without its memory, tail believes the rebuilt log (what the operator counts on).
    const naive = await cli([...tail, "--from", "0"]);
    expect(naive.code).toBe(0);
    expect(naive.out).toContain("nothing to see here");

    const again = await cli([...tail, "--from", "0", "--state", state]);
    expect(again.code, again.err).toBe(1);
    expect(again.out).toBe("");
    expect(again.err).toMatch(/ALARM \(fork\).*not consistent with the checkpoint of size/);
    expect(readFileSync(state, "utf8")).toBe(kept);
  });

  it("audit --log --state finds the rewritten history (a fork at the saved size): exit 1, the state kept", {
    timeout: 60_000,
  }, async () => {
    const honest = await logWith(events(5));
    const rebuilt = await logWith(events(8, { rewrite: 1 }));
    const op = await operatorUrl(honest);
    const state = join(tempDir("tt-op-audit-"), "audit.checkpoint");
    const audit = ["audit", "--log", op.url, "--token-file", tokenFile(), ...KEY, "--json"];

    const first = await cli([...audit, "--state", state]);
    expect(first.code, first.out).toBe(0);
    const kept = readFileSync(state, "utf8");

    op.use(rebuilt);
    expect((await cli(audit)).code).toBe(0); // every hash of the rebuilt log holds by itself
    const again = await cli([...audit, "--state", state]);
    expect(again.code, again.out).toBe(1);
    const report = JSON.parse(again.out) as { findings: { kind: string; message: string }[] };
    expect(report.findings[0]).toMatchObject({ kind: "checkpoint" });
    expect(report.findings[0]!.message).toMatch(/verified before \(--state\): a fork/);
    expect(readFileSync(state, "utf8")).toBe(kept);

    // A state file of another key is refused: exit 2, not compared.
    const other = generateKey(ORIGIN, new Uint8Array(32).fill(9));
    const dir = tempDir("tt-op-other-");
    writeTree(dir, makeLeaves(3), 3, other.signerKey, ORIGIN);
    const foreign = join(dir, "state");
    copyFileSync(join(dir, "checkpoint"), foreign);
    const refused = await cli([...audit, "--state", foreign]);
    expect(refused.code).toBe(2);
    expect(refused.err + refused.out).toMatch(/does not hold a checkpoint of this log/);
  });

  it("tail --follow --state retries rounds the log does not answer and exits 1 only on the fork", {
    timeout: 90_000,
  }, async () => {
    const honest = await logWith(events(5));
    const rebuilt = await logWith(events(40, { rewrite: 1 }));
    const op = await operatorUrl(honest);
    const state = join(tempDir("tt-op-follow-"), "tail.checkpoint");
    const p = run([
      "tail",
      "--log",
      op.url,
      "--token-file",
      tokenFile(),
      ...KEY,
      "--json",
      "--follow",
      "--interval",
      "100ms",
      "--state",
      state,
    ]);
    procs.push(p);
    await until(async () => lines(p.stdout()).length >= 5, 30_000, "the first five events");

    op.down = true;
    await until(
      async () => (p.stderr().match(/round failed/g) ?? []).length >= 2,
      20_000,
      "two failed rounds",
    );
    op.down = false;
    await post(honest, events(2, { from: 5 }));
    await until(
      async () => lines(p.stdout()).some((l) => l.event?.seq === 6),
      30_000,
      "the events posted after the outage",
    );

    op.useFromNextRound(rebuilt);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/ALARM \(fork\)/);
    expect(p.stdout()).not.toContain("nothing to see here");
  });
});

describe("a fork whose proof the log withholds", () => {
  it("tail --follow raises the unproven alarm (exit 1) once no round has completed for --unproven-after", {
    timeout: 90_000,
  }, async () => {
    const honest = await logWith(events(5));
    const rebuilt = await logWith(events(40, { rewrite: 1 }));
    const op = await operatorUrl(honest);
    const p = run([
      "tail",
      "--log",
      op.url,
      "--token-file",
      tokenFile(),
      ...KEY,
      "--json",
      "--follow",
      "--interval",
      "100ms",
      "--unproven-after",
      "2s",
    ]);
    procs.push(p);
    await until(async () => lines(p.stdout()).length >= 5, 30_000, "the first five events");
    // The rebuilt history, and no tiles to prove (or disprove) that it extends the one seen. The
    // switch happens while the log is down, so no round reads one log's checkpoint and the other's
    // entries (tail would rightly fail that round as a proof mismatch).
    op.down = true;
    await until(async () => /round failed/.test(p.stderr()), 20_000, "a failed round");
    op.withholdTiles = true;
    op.use(rebuilt);
    op.down = false;
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/round failed/);
    expect(p.stderr()).toMatch(/ALARM \(unproven\): no round has completed for \d+ s/);
    expect(p.stdout()).not.toContain("nothing to see here");
  });
});

describe("content deleted without an erasure event", () => {
  it("tail shows content as erased only when the log's own erasure event names it; deleted content is exit 1", {
    timeout: 60_000,
  }, async () => {
    const log = await logWith(events(3, { time: "2020-01-01T00:00:00.000Z" }));
    const res = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ before: "2021-01-01", reason: "retention" }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const { events: by } = (await res.json()) as { events: number[] };
    await post(log, events(2, { from: 3, time: "2022-01-01T00:00:00.000Z" }));
    await log.ctx.publisher.waitFor(by[0]! + 3, 10_000);
    const deleted = by[0]! + 2; // the second event posted after the erasure
    const op = await operatorUrl(log);
    const tail = ["tail", "--log", op.url, "--token-file", tokenFile(), ...KEY, "--json"];

    const honest = await cli(tail);
    expect(honest.code, honest.err).toBe(0);
    const shown = lines(honest.out);
    expect(shown.slice(0, 3).map((l) => [l.erased, l.erasedBy])).toEqual([
      [true, by[0]],
      [true, by[0]],
      [true, by[0]],
    ]);
    expect(shown[deleted]).toMatchObject({ erased: false, content: "line 4\r\n" });

    // The operator drops the content of one later event from every answer.
    op.rewrite = (path, body) => {
      if (!path.startsWith("/v1/entries?")) return body;
      return (body as { index: number; payload: unknown }[]).map((e) =>
        e.index === deleted ? { ...e, payload: null, erased: true } : e,
      );
    };
    const lied = await cli(tail);
    expect(lied.code).toBe(1);
    expect(lines(lied.out).map((l) => l.index)).toEqual(
      Array.from({ length: deleted }, (_, i) => i),
    );
    expect(lied.err).toMatch(
      new RegExp(`entry ${deleted}: its content is missing and no erasure event`),
    );
  });
});

/** A directory log of the first `size` test leaves; `withhold` deletes its tiles. */
function dirLog(size: number, withhold = false): string {
  const dir = tempDir("tt-op-dir-");
  writeTree(dir, makeLeaves(size), size, TEST_KEY.signerKey, ORIGIN);
  if (withhold) rmSync(join(dir, "tile"), { recursive: true, force: true });
  return dir;
}

describe("a newer signed checkpoint whose tiles are withheld", () => {
  it("monitor: not proven yet is exit 2 and starts the clock; past --unproven-after it is an alarm; proven, the clock stops", {
    timeout: 60_000,
  }, async () => {
    const state = join(tempDir("tt-op-monitor-"), "log.checkpoint");
    const monitor = (log: string, ...more: string[]) =>
      cli(["monitor", "--log", log, ...KEY, "--state", state, ...more]);
    expect((await monitor(dirLog(20))).code).toBe(0);

    const withheld = dirLog(40, true);
    const early = await monitor(withheld, "--unproven-after", "1h");
    expect(early.code).toBe(2);
    expect(early.err).toMatch(/size 40 is not proven consistent with the saved size 20 yet/);
    expect(existsSync(`${state}.unproven`)).toBe(true);
    const late = await monitor(withheld, "--unproven-after", "1ms", "--json");
    expect(late.code).toBe(1);
    expect(JSON.parse(late.out)).toMatchObject({ ok: false, alarm: { kind: "unproven" } });

    expect((await monitor(dirLog(40))).code).toBe(0);
    expect(existsSync(`${state}.unproven`)).toBe(false);
    expect(readFileSync(state, "utf8").split("\n")[1]).toBe("40");

    // With --interval the withheld rounds are retried until the deadline, then the alarm.
    const looping = await monitor(
      dirLog(60, true),
      "--interval",
      "100ms",
      "--unproven-after",
      "500ms",
    );
    expect(looping.code).toBe(1);
    expect(looping.out).toMatch(/ALARM \(unproven\): a signed checkpoint of size 60/);
  });

  it("mirror: the same clock and alarm, the mirror unchanged", { timeout: 60_000 }, async () => {
    const out = tempDir("tt-op-mirror-");
    const mirror = (log: string, ...more: string[]) =>
      cli(["mirror", "--log", log, ...KEY, "--out", out, ...more]);
    expect((await mirror(dirLog(20))).code).toBe(0);
    const kept = readFileSync(join(out, "checkpoint"), "utf8");

    const withheld = dirLog(300, true);
    const early = await mirror(withheld, "--unproven-after", "1h");
    expect(early.code, early.err).toBe(2);
    expect(early.err).toMatch(/size 300 is not proven consistent with the mirror's size 20 yet/);
    const late = await mirror(withheld, "--unproven-after", "1ms", "--json");
    expect(late.code).toBe(1);
    expect(JSON.parse(late.out)).toMatchObject({ ok: false, alarm: { kind: "unproven" } });
    expect(readFileSync(join(out, "checkpoint"), "utf8")).toBe(kept);

    const watching = await mirror(
      withheld,
      "--watch",
      "--interval",
      "100ms",
      "--unproven-after",
      "500ms",
    );
    expect(watching.code).toBe(1);
    expect(watching.out).toMatch(/ALARM \(unproven\)/);

    expect((await mirror(dirLog(300))).code).toBe(0);
    expect(existsSync(join(out, ".unproven"))).toBe(false);
  });
});
