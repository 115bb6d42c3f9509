// The attacker is another user on the host (`nobody`, through runuser; these tests run as root,
// the victim). The agent's spool holds pane output and command lines from before redaction, so
// that user must not read it, nor make the agent write it where they can, nor plant links in it.
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { agentBed, agentOnTmux, paneReady, tempDir, tmux, until } from "../support/agent.ts";
import { asNobody, canActAsOther, modes } from "../support/private.ts";

const started = agentBed();

/** tmux with bash for the victim, and the victim's agent on it (sending to a log not there). */
const victim = (spool: (dir: string) => string) =>
  agentOnTmux(started, {
    name: "victim",
    log: false,
    spool,
    // The attacker can reach the victim's directory, so a refusal can only come from the spool.
    before: ({ dir }) => chmodSync(dir, 0o755),
    // The agent may refuse the spool: each test waits for what it expects.
    capturing: false,
  });

/** The agent's exit code, or "running" if it is still up after `ms`. */
const exitWithin = (agent: { exited: Promise<number | null> }, ms: number) =>
  Promise.race([agent.exited, new Promise<"running">((r) => setTimeout(() => r("running"), ms))]);

describe.skipIf(!canActAsOther)("another user on the host", () => {
  it("cannot read anything in the spool: not the raw output with its secrets, the commands, the hooks log, the events or the state", {
    timeout: 60_000,
  }, async () => {
    const v = await victim((dir) => join(dir, "spool"));
    const spool = join(v.dir, "spool");
    await v.agent.waitFor(/capturing into/, 30_000);
    await paneReady(v.socket);
    tmux(v.socket, "send-keys", "-t", "work", "echo db password=hunter2pw", "Enter");
    const raw = () =>
      readdirSync(join(spool, "raw")).map((d) => join(spool, "raw", d, "0.out"))[0]!;
    await until(
      async () =>
        readFileSync(raw(), "latin1").includes("password=hunter2pw") &&
        readFileSync(join(spool, "commands.log"), "latin1").length > 0 &&
        readFileSync(join(spool, "events.jsonl"), "utf8").includes("[REDACTED:password]"),
      30_000,
      "the output and the command in the spool",
    );
    // The control: the attacker can reach and read what the victim leaves world-readable there.
    writeFileSync(join(v.dir, "readable"), "public\n", { mode: 0o644 });
    expect(asNobody(`cat ${join(v.dir, "readable")}`).stdout).toBe("public\n");
    // The spool itself: no listing, no file.
    expect(asNobody(`ls ${spool}`).status).not.toBe(0);
    const files = Object.keys(modes(spool)).filter((p) => p !== ".");
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) {
      const r = asNobody(`cat ${join(spool, f)}`);
      expect(r.status, f).not.toBe(0);
      expect(r.stderr, f).toMatch(/Permission denied/);
      expect(r.stdout, f).toBe("");
    }
    // Even with the directories opened up, each file keeps its own owner-only mode.
    for (const d of [spool, join(spool, "raw"), dirname(raw())]) chmodSync(d, 0o755);
    for (const f of files.filter((p) => !statSync(join(spool, p)).isDirectory())) {
      expect(asNobody(`cat ${join(spool, f)}`).status, f).not.toBe(0);
    }
  });

  it("who created the spool directory first (to read what it captures) makes the agent refuse it", {
    timeout: 60_000,
  }, async () => {
    const shared = tempDir("tt-local-shared-");
    chmodSync(shared, 0o1777);
    const spool = join(shared, "spool");
    expect(asNobody(`mkdir -m 0777 ${spool}`).status).toBe(0);
    const v = await victim(() => spool);
    expect(await exitWithin(v.agent, 20_000)).not.toBe(0);
    expect(v.agent.stderr()).toMatch(/refusing the spool .*the directory is owned by uid 65534/);
    expect(readdirSync(spool)).toEqual([]);
  });

  it("who planted a symbolic link as the spool path (to a directory of theirs) makes the agent refuse it", {
    timeout: 60_000,
  }, async () => {
    const shared = tempDir("tt-local-shared-");
    chmodSync(shared, 0o1777);
    const loot = join(shared, "loot");
    const spool = join(shared, "spool");
    expect(asNobody(`mkdir -m 0777 ${loot} && ln -s ${loot} ${spool}`).status).toBe(0);
    const v = await victim(() => spool);
    expect(await exitWithin(v.agent, 20_000)).not.toBe(0);
    expect(v.agent.stderr()).toMatch(/refusing the spool .*is a symbolic link/);
    expect(readdirSync(loot)).toEqual([]);
  });

  it("who planted a symbolic link in a spool left open to others (to overwrite a file of the victim) makes the agent refuse it, the file untouched", {
    timeout: 60_000,
  }, async () => {
    const base = tempDir("tt-local-user-");
    chmodSync(base, 0o755);
    const precious = join(base, "precious");
    writeFileSync(precious, "the victim's file\n", { mode: 0o600 });
    const spool = join(base, "spool");
    mkdirSync(join(spool, "raw"), { recursive: true });
    chmodSync(spool, 0o777);
    for (const name of ["status.json", "hooks.log"]) {
      expect(asNobody(`ln -s ${precious} ${join(spool, name)}`).status).toBe(0);
    }
    const v = await victim(() => spool);
    expect(await exitWithin(v.agent, 20_000)).not.toBe(0);
    expect(v.agent.stderr()).toMatch(
      /refusing the spool .*(status\.json|hooks\.log) is a symbolic link/,
    );
    expect(readFileSync(precious, "utf8")).toBe("the victim's file\n");
  });

  it("who can write the directory holding the spool (not sticky: they could swap it) makes the agent refuse it", {
    timeout: 60_000,
  }, async () => {
    const shared = tempDir("tt-local-shared-");
    chmodSync(shared, 0o777);
    const v = await victim(() => join(shared, "spool"));
    expect(await exitWithin(v.agent, 20_000)).not.toBe(0);
    expect(v.agent.stderr()).toMatch(
      new RegExp(`refusing the spool .*: ${shared} is writable by every user`),
    );
    expect(readdirSync(shared)).toEqual([]);
  });
});
