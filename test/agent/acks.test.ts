// The agent's check of the log's answer to a batch (src/agent/acks.ts) and its index of receipts
// (src/agent/receipt-index.ts).
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAnswer, expectedLeafHash, RefusedAnswer } from "../../src/agent/acks.ts";
import { ReceiptIndex, receiptLines } from "../../src/agent/receipt-index.ts";
import { makeSubmission } from "../support/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";
import { tempDir } from "../support/serve.ts";

const H = (i: number) => Buffer.alloc(32, i).toString("base64");
const none = () => undefined;
const refused = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(RefusedAnswer);
  expect(f).toThrow(re);
};

describe("the agent's leaf hash is the log's", () => {
  let log: TestLog;
  beforeAll(async () => {
    log = await openTestLog();
  });
  afterAll(() => log.close());

  it("for output with UTF-8 and with binary content, and for an event without content", async () => {
    const subs = [
      makeSubmission({ seq: 0, content: "héllo\r\n" }),
      { ...makeSubmission({ seq: 1, type: "pane-open" }) },
      makeSubmission({ seq: 2, content: "x".repeat(3000) }),
    ];
    const res = await log.req("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(subs),
    });
    expect(res.status).toBe(200);
    const acks = (await res.json()) as { leafHash: string }[];
    expect(acks.map((a) => a.leafHash)).toEqual(subs.map(expectedLeafHash));
  });
});

describe("an answer is accepted only as one acknowledgement per event, in order, naming its leaf hash", () => {
  const expected = [H(1), H(2), H(3)];
  const answer = (acks: unknown) => JSON.stringify(acks);
  const good = [
    { index: 10, leafHash: H(1), duplicate: false },
    { index: 11, leafHash: H(2), duplicate: false },
    { index: 12, leafHash: H(3), duplicate: false },
  ];

  it("accepts the exact answer, and a duplicate at the index its receipt already holds", () => {
    expect(checkAnswer(answer(good), expected, none)).toEqual([
      { index: 10, leafHash: H(1) },
      { index: 11, leafHash: H(2) },
      { index: 12, leafHash: H(3) },
    ]);
    expect(checkAnswer(answer(good), expected, (i) => (i === 10 ? H(1) : undefined))).toHaveLength(
      3,
    );
  });

  it("refuses another leaf hash", () => {
    const lie = good.map((a, i) => (i === 1 ? { ...a, leafHash: H(9) } : a));
    refused(() => checkAnswer(answer(lie), expected, none), /acknowledgement 1 .*leaf hash/);
  });

  it("refuses fewer or more acknowledgements than events", () => {
    refused(
      () => checkAnswer(answer(good.slice(0, 2)), expected, none),
      /2 acknowledgement\(s\) for 3/,
    );
    refused(
      () => checkAnswer(answer([...good, good[2]]), expected, none),
      /4 acknowledgement\(s\) for 3/,
    );
  });

  it("refuses acknowledgements out of order", () => {
    refused(
      () => checkAnswer(answer([good[1], good[0], good[2]]), expected, none),
      /acknowledgement 0/,
    );
  });

  it("refuses an index already acknowledged for another leaf, in this answer or before", () => {
    const twice = good.map((a, i) => (i === 2 ? { ...a, index: 10 } : a));
    refused(() => checkAnswer(answer(twice), expected, none), /both name index 10/);
    refused(
      () => checkAnswer(answer(good), expected, (i) => (i === 11 ? H(7) : undefined)),
      /index 11, already acknowledged for another leaf/,
    );
  });

  it("refuses junk: not JSON, not an array, a missing or negative or fractional index", () => {
    refused(() => checkAnswer("<html>", expected, none), /not JSON/);
    refused(() => checkAnswer('{"ok":true}', expected, none), /not a JSON array/);
    for (const index of [undefined, -1, 1.5, "10", 2 ** 53]) {
      const bad = good.map((a, i) => (i === 0 ? { ...a, index } : a));
      refused(
        () => checkAnswer(answer(bad), expected, none),
        /acknowledgement 0 has no valid index/,
      );
    }
    refused(
      () => checkAnswer(answer([null, ...good.slice(1)]), expected, none),
      /acknowledgement 0/,
    );
  });
});

describe("the receipt index", () => {
  it("keeps the newest receipts in memory and finds older ones in the file", () => {
    const dir = tempDir();
    const file = join(dir, "receipts.jsonl");
    writeFileSync(
      file,
      Array.from(
        { length: 10 },
        (_, i) => `${JSON.stringify({ index: 100 + i, leafHash: H(i) })}\n`,
      ).join(""),
    );
    const idx = new ReceiptIndex(file, 3);
    expect(idx.size).toBe(3);
    expect(idx.get(109)).toBe(H(9)); // in memory
    expect(idx.get(100)).toBe(H(0)); // evicted: read from the file
    expect(idx.get(99)).toBeUndefined();
    expect(idx.get(500)).toBeUndefined();
    appendFileSync(file, `${JSON.stringify({ index: 110, leafHash: H(10) })}\n`);
    idx.add([{ index: 110, leafHash: H(10) }]);
    expect(idx.size).toBe(3);
    expect(idx.get(107)).toBe(H(7));
    expect(idx.get(110)).toBe(H(10));
  });

  it("reads lines across chunk boundaries and skips a torn line", () => {
    const dir = tempDir();
    const file = join(dir, "receipts.jsonl");
    const n = 30_000; // ~1.5 MB: more than one 1 MiB read
    writeFileSync(
      file,
      `${Array.from({ length: n }, (_, i) => JSON.stringify({ index: i, leafHash: H(i % 200) })).join("\n")}\n{"index":5,"lea\n{"index":${n},"leafHash":"${H(1)}"}\n{"ind`,
    );
    const lines = [...receiptLines(file)];
    expect(lines).toHaveLength(n + 2); // the unterminated last line is not yet a line
    expect(lines.filter((l) => l.receipt).map((l) => l.receipt!.index)).toEqual(
      Array.from({ length: n + 1 }, (_, i) => i),
    );
    expect(lines[n]!.receipt).toBeUndefined();
    const from = [...receiptLines(file, lines[n - 2]!.end)];
    expect(from.map((l) => l.receipt?.index)).toEqual([n - 1, undefined, n]);
  });
});
