// The auditor's command line end to end, on a log filled by the real agent from a real tmux
// session: sessions list, export (bundle and asciicast), verify-bundle (and a tampered bundle),
// erase, and `serve --retention`.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { agentBed, agentOnTmux, tempDir, tmux, until } from "../support/agent.ts";
import { openTestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { run } from "../support/proc.ts";
import { getJson, postEvents, serve } from "../support/serve.ts";

const started = agentBed();

async function cli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const p = run(args, { TMUXTRAIL_TOKEN: undefined, TMUXTRAIL_ADMIN_TOKEN: undefined, ...env });
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

/** The events of the log's own session (access and erasure events: no content to record). */
async function ownEvents(url: string, origin: string) {
  const [own] = await getJson<{ id: string }[]>(
    `${url}/v1/sessions?host=${encodeURIComponent(origin)}`,
  );
  if (!own) return [];
  const page = await getJson<{
    events: { index: number; event: { type: string; erasure?: unknown; access?: unknown } }[];
  }>(`${url}/v1/sessions/${own.id}/events`);
  return page.events;
}

describe("auditor commands on a log filled by the agent", () => {
  it("lists, exports, verifies, catches a tampered bundle, erases", {
    timeout: 120_000,
  }, async () => {
    const setup = await agentOnTmux(started, { name: "audit", paneReady: true });
    const { dir, host, socket, log: s, verifierKey: vkey } = setup;
    const origin = s.proc.stdout().match(/origin\s+(\S+)/)![1]!;
    const adminFile = join(dir, "admin.token");
    writeFileSync(adminFile, ADMIN, { mode: 0o600 });
    tmux(socket, "send-keys", "-t", "work", "echo audited-$((6*7))", "Enter");

    // sessions list finds the session by the command it ran.
    const list = await until(
      async () => {
        const r = await cli([
          "sessions",
          "list",
          "--log",
          s.url,
          "--token-file",
          adminFile,
          "--host",
          host,
          "--command",
          "AUDITED-",
          "--json",
        ]);
        const arr = JSON.parse(r.out || "[]") as { id: string; host: string }[];
        return r.code === 0 && arr.length === 1 ? arr : undefined;
      },
      30_000,
      "the session with the command",
    );
    const id = list[0]!.id;
    expect(list[0]!.host).toBe(host);

    // Export once the output is covered by a checkpoint, verify offline with the log's key.
    const bundleFile = join(dir, "session.json");
    const exportArgs = ["export", id, "--log", s.url, "--token-file", adminFile];
    const bundle = await until(
      async () => {
        const r = await cli([...exportArgs, "--out", bundleFile, "--casts", "--json"]);
        if (r.code !== 0) return undefined;
        const b = JSON.parse(readFileSync(bundleFile, "utf8"));
        const played = Object.values(b.casts as Record<string, string>).join("");
        return played.includes("audited-42") ? b : undefined;
      },
      30_000,
      "an export that plays the output",
    );
    const ok = await cli(["verify-bundle", bundleFile, "--log-key", vkey]);
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain("trusted log key (given)");
    expect(ok.out).toMatch(/stream %0: open \(seq 0\.\.\d+/);
    expect(ok.out).toContain("bundle verified");
    // Without a key of the user's, the same checks pass against the bundle's own key: never "verified".
    const hinted = await cli(["verify-bundle", bundleFile]);
    expect(hinted.code).toBe(1);
    expect(hinted.out).toContain("log key taken from the bundle itself");
    expect(hinted.out).toContain("its checks pass only against the log key the bundle carries");
    expect(hinted.out).not.toContain("bundle verified");

    // One asciicast, playable: a v2 header, then [time, "o", text] lines.
    const castFile = join(dir, "pane.cast");
    expect((await cli([...exportArgs, "--out", castFile, "--cast", "%0"])).code).toBe(0);
    const cast = readFileSync(castFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(cast[0]).toMatchObject({ version: 2, width: 120, height: 30 });
    expect(cast.slice(1).every((e: unknown[]) => typeof e[0] === "number" && e[1] === "o")).toBe(
      true,
    );

    // Any edit of what matters is caught and named.
    const out = bundle.events.find(
      (e: { leaf: string; payload: unknown }) => e.payload && JSON.parse(e.leaf).type === "output",
    );
    const tampered = structuredClone(bundle);
    const t = tampered.events.find((e: { index: number }) => e.index === out.index);
    const bytes = Buffer.from(t.payload.content, "base64");
    bytes[0]! ^= 1;
    t.payload.content = bytes.toString("base64");
    writeFileSync(join(dir, "tampered.json"), JSON.stringify(tampered));
    const bad = await cli([
      "verify-bundle",
      join(dir, "tampered.json"),
      "--log-key",
      vkey,
      "--json",
    ]);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.out);
    expect(report.ok).toBe(false);
    expect(report.failures[0]).toEqual({
      index: out.index,
      message: `event #${out.index}: content or salt does not match the leaf's commitment`,
    });
    expect((await cli(["verify-bundle", join(dir, "nope.json")])).code).toBe(2);

    // The public-API checks on the same agent-filled log: checkpoint, tiles, feed, full audit.
    const pub = ["--log", s.url, "--log-key", vkey];
    expect((await cli(["verify", "checkpoint", ...pub])).code).toBe(0);
    const state = join(dir, "monitor.state");
    expect((await cli(["monitor", ...pub, "--state", state])).code).toBe(0);
    const fed = await cli(["tail", ...pub, "--token-file", adminFile, "--json"]);
    expect(fed.code, fed.err).toBe(0);
    expect(fed.out).toContain("audited-42");
    const audited = await cli(["audit", ...pub, "--token-file", adminFile, "--json"]);
    expect(audited.code, audited.out + audited.err).toBe(0);
    expect(JSON.parse(audited.out)).toMatchObject({ ok: true, findings: [] });
    if (started.db) {
      const direct = await cli(["audit", "--log-key", vkey, "--json"], {
        DATABASE_URL: started.db.url,
        TMUXTRAIL_DATABASE_SCHEMA: started.db.schema,
      });
      expect(direct.code, direct.out + direct.err).toBe(0);
    }

    // replay plays a verified pane, and refuses a tampered bundle with the reason.
    const played = await cli(["replay", bundleFile, "--log-key", vkey, "--speed", "1000"]);
    expect(played.code, played.err).toBe(0);
    expect(played.out).toContain("audited-42");
    expect(played.err).toMatch(/^verified: /);
    const refused = await cli(["replay", join(dir, "tampered.json"), "--log-key", vkey]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("not replaying a session that is not verified");
    expect(refused.out).toBe("");

    // Erase the session: content is gone, the bundle still verifies and says by which event.
    const erased = await cli([
      "erase",
      "--session",
      id,
      "--reason",
      "test: GDPR request",
      "--log",
      s.url,
      "--token-file",
      adminFile,
      "--json",
    ]);
    expect(erased.code, erased.err).toBe(0);
    const { events } = JSON.parse(erased.out) as { erased: number; events: number[] };
    const after = join(dir, "erased.json");
    await until(
      async () => ((await cli([...exportArgs, "--out", after])).code === 0 ? true : undefined),
      30_000,
      "an export after the erasure",
    );
    const v = await cli(["verify-bundle", after, "--log-key", vkey]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`content erased by event #${events[0]}`);
    const afterErasure = await cli(["audit", ...pub, "--token-file", adminFile]);
    expect(afterErasure.code, afterErasure.out + afterErasure.err).toBe(0);
    // Every export was recorded in the log's own access stream.
    const own = await ownEvents(s.url, origin);
    expect(
      own.filter(
        (e) =>
          e.event.type === "access" &&
          JSON.stringify(e.event.access).includes(`export of session ${id}`),
      ).length,
    ).toBeGreaterThanOrEqual(3);
  });
});

describe("serve --retention", () => {
  it("erases content older than the retention period by itself, recorded", {
    timeout: 60_000,
  }, async () => {
    // Its own database: the test above leaves an erasure event of the same origin behind.
    const own = process.env.DATABASE_URL ? await openTestDb() : undefined;
    onTestFinished(() => own?.close());
    const s = await serve({
      data: tempDir("tt-retention-"),
      schema: own?.schema,
      args: ["--retention", "30d"],
    });
    started.procs.push(s.proc);
    const origin = s.proc.stdout().match(/origin\s+(\S+)/)![1]!;
    const now = new Date().toISOString();
    const res = await postEvents(s.url, [
      makeSubmission({ seq: 0, time: "2020-01-01T00:00:00.000Z", host: "old-host" }),
      makeSubmission({ seq: 1, time: now, host: "old-host" }),
    ]);
    expect(res.status).toBe(200);
    // The first run is a second after start, then hourly.
    const erasures = await until(
      async () => {
        const own = await ownEvents(s.url, origin);
        const e = own.filter((x) => x.event.type === "erasure");
        return e.length > 0 ? e : undefined;
      },
      20_000,
      "the retention erasure",
    );
    expect(erasures.map((e) => e.event.erasure)).toEqual([
      { indexes: [[0, 0]], key: "retention", reason: "retention policy 30d" },
    ]);
    const old = await getJson<{ payload: unknown; erased: boolean }>(`${s.url}/v1/entries/0`);
    expect(old).toMatchObject({ payload: null, erased: true });
    const recent = await getJson<{ payload: unknown }>(`${s.url}/v1/entries/1`);
    expect(recent.payload).not.toBeNull();
  });
});
