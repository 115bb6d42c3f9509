import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Spool, type SpoolLine } from "../../src/agent/spool.ts";
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
});
