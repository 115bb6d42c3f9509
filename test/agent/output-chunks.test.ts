// Cutting pane output into events (src/agent/output-chunks.ts), with no I/O: pieces cover the data
// in order, none longer than the chunk size except to keep a secret whole, no secret survives a
// cut, and a busy pane's flush holds back a tail in which a secret could still be growing.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { flushCut, HOLD_BACK, outputPieces } from "../../src/agent/output-chunks.ts";
import { DEFAULT_PATTERNS, secretSpans } from "../../src/agent/redact.ts";

const SECRET = "AKIAIOSFODNN7EXAMPLE";

describe("output pieces", () => {
  it("cover the data in order, at most maxChunk each, and never leave a secret", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.constant(` ${SECRET} `)), {
          maxLength: 30,
        }),
        fc.integer({ min: 8, max: 64 }),
        (parts, maxChunk) => {
          const data = Buffer.from(parts.join(""), "latin1");
          const pieces = outputPieces(data, DEFAULT_PATTERNS, maxChunk);
          let at = 0;
          for (const p of pieces) {
            expect(p.end).toBeGreaterThan(at);
            const cut = data.subarray(at, p.end).toString("latin1");
            if (p.end - at > maxChunk) expect(cut).toContain(SECRET.slice(0, 8));
            expect(p.content.toString("latin1")).not.toContain(SECRET);
            at = p.end;
          }
          expect(at).toBe(data.length);
        },
      ),
    );
  });

  it("a busy pane's flush holds back its last HOLD_BACK bytes; an idle one flushes all", () => {
    const data = Buffer.from(`${"x".repeat(2000)} AKIAIOSF`);
    const spans = secretSpans(data.toString("latin1"), DEFAULT_PATTERNS);
    expect(flushCut(data, spans, false)).toBe(data.length - HOLD_BACK);
    expect(flushCut(data, spans, true)).toBe(data.length);
    const key = Buffer.from("ok\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn");
    expect(flushCut(key, [], false)).toBe(0);
  });
});
