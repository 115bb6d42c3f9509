import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Spool, type SpoolLine } from "../../src/agent/spool.ts";
import { modes } from "../support/private.ts";
import { tempDir } from "../support/serve.ts";

const line = (pane: string, seq: number, end?: number): SpoolLine => ({
  sub: { v: 1, host: "h", server: "s@1", pane, seq, type: "output" },
  ...(end === undefined ? {} : { raw: { pane, end } }),
});

describe("the agent's spool", () => {
  it("recovers sequence numbers and raw offsets from lines the state file does not cover", () => {
    const dir = tempDir();
    const a = new Spool(dir);
    a.append([line("%0", a.nextSeq("h\u0000s@1\u0000%0"), 100)]);
    a.close();
    // A crash after an append but before the state write: the line is there, the state is not.
    appendFileSync(join(dir, "events.jsonl"), `${JSON.stringify(line("%0", 1, 250))}\n`);
    const b = new Spool(dir);
    expect(b.nextSeq("h\u0000s@1\u0000%0")).toBe(2);
    expect(b.state.raw["%0"]).toBe(250);
    expect(b.state.lines).toBe(2);
    b.close();
  });

  it("ignores a torn last line (it was never fsynced, so never counted as captured)", () => {
    const dir = tempDir();
    const a = new Spool(dir);
    a.append([line("%1", 0, 10)]);
    a.close();
    appendFileSync(join(dir, "events.jsonl"), '{"sub":{"v":1,"host":"h","ser');
    const b = new Spool(dir);
    expect(b.state.lines).toBe(1);
    expect(b.pending(10, 1 << 20).lines).toHaveLength(1);
    b.close();
  });

  it("lines leave only when acknowledged; receipts are kept", () => {
    const dir = tempDir();
    const s = new Spool(dir);
    s.append([line("%2", 0), line("%2", 1), line("%2", 2)]);
    const p = s.pending(2, 1 << 20);
    expect(p.lines.map((l) => l.sub.seq)).toEqual([0, 1]);
    s.ack(2, p.bytes, [
      { index: 7, leafHash: "a" },
      { index: 8, leafHash: "b" },
    ]);
    expect(s.pending(10, 1 << 20).lines.map((l) => l.sub.seq)).toEqual([2]);
    expect(readFileSync(join(dir, "receipts.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    s.close();
    const again = new Spool(dir);
    expect(again.pending(10, 1 << 20).lines.map((l) => l.sub.seq)).toEqual([2]);
    again.close();
  });

  it("a torn last receipt (a crash mid-append) is ended before the next receipts", () => {
    const dir = tempDir();
    const s = new Spool(dir);
    s.append([line("%2", 0)]);
    appendFileSync(join(dir, "receipts.jsonl"), '{"index":3,"leafH');
    s.ack(1, s.pending(1, 1 << 20).bytes, [{ index: 4, leafHash: "b" }]);
    s.close();
    expect(readFileSync(join(dir, "receipts.jsonl"), "utf8").split("\n")).toEqual([
      '{"index":3,"leafH',
      '{"index":4,"leafHash":"b"}',
      "",
    ]);
  });
});

describe("the spool is private: it holds output and commands from before redaction", () => {
  it("is created owner-only whatever the umask: directories 0700, files 0600", () => {
    const dir = join(tempDir(), "spool");
    const umask = process.umask(0);
    try {
      const s = new Spool(dir, () => {});
      s.append([line("%0", 0, 5)]);
      const p = s.pending(1, 1 << 20);
      s.ack(1, p.bytes, [{ index: 0, leafHash: "a" }]);
      s.close();
    } finally {
      process.umask(umask);
    }
    expect(modes(dir)).toEqual({
      ".": "700",
      raw: "700",
      "events.jsonl": "600",
      "state.json": "600",
      "receipts.jsonl": "600",
      // Created before tmux or the shell hook could create them with their own umask.
      "hooks.log": "600",
      "commands.log": "600",
    });
  });

  it("an existing 0755 spool with 0644 files is tightened at start, with a warning naming them", () => {
    const dir = join(tempDir(), "spool");
    mkdirSync(join(dir, "raw", "default@1"), { recursive: true });
    for (const d of [dir, join(dir, "raw"), join(dir, "raw", "default@1")]) chmodSync(d, 0o755);
    for (const f of ["hooks.log", "status.json", join("raw", "default@1", "0.out")]) {
      writeFileSync(join(dir, f), "x\n");
      chmodSync(join(dir, f), 0o644);
    }
    const warnings: string[] = [];
    new Spool(dir, (m) => warnings.push(m)).close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^SPOOL PERMISSIONS: .*tightened to owner-only/);
    for (const what of [
      "the directory 0755→0700",
      "raw/ 0755→0700",
      "raw/default@1/ 0755→0700",
      "hooks.log 0644→0600",
      "status.json 0644→0600",
      "raw/default@1/0.out 0644→0600",
    ])
      expect(warnings[0]).toContain(what);
    for (const [path, mode] of Object.entries(modes(dir)))
      expect(mode, path).toBe(statSync(join(dir, path)).isDirectory() ? "700" : "600");
    // A private spool is opened without a word.
    const again: string[] = [];
    new Spool(dir, (m) => again.push(m)).close();
    expect(again).toEqual([]);
  });

  it("a spool path that is a symbolic link, or a symbolic link inside the spool, is refused", () => {
    const base = tempDir();
    mkdirSync(join(base, "elsewhere"), { mode: 0o700 });
    symlinkSync(join(base, "elsewhere"), join(base, "spool"));
    expect(() => new Spool(join(base, "spool"), () => {})).toThrow(/is a symbolic link/);
    const dir = join(tempDir(), "spool");
    new Spool(dir, () => {}).close();
    symlinkSync(join(base, "victim"), join(dir, "status.json"));
    expect(() => new Spool(dir, () => {})).toThrow(/status\.json is a symbolic link/);
  });
});
