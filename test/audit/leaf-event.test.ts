// readLeafEvent decides, from the leaf bytes alone, whether a leaf is a tmux event (the audit, and
// POST /v1/leaves which refuses leaves that read as events, use the same function).
import { describe, expect, it } from "vitest";
import { readLeafEvent } from "../../src/audit/leaf-event.ts";
import { parseSubmission } from "../../src/core/events.ts";
import { makeSubmission } from "../support/events.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const leafText = new TextDecoder().decode(parseSubmission(makeSubmission({ seq: 4 })).leaf);

describe("readLeafEvent", () => {
  it("reads an event leaf's stream fields", () => {
    expect(readLeafEvent(enc(leafText))).toMatchObject({ host: "web-1", pane: "%3", seq: 4 });
  });

  it("anything that is not exactly a JSON object is opaque, without throwing", () => {
    for (const s of [
      "bench leaf 17",
      "",
      "{",
      "}",
      "[1,2]",
      ` ${leafText}`,
      `${leafText}\n`,
      leafText.replace('"v":1', '"v":2'),
      leafText.replace(/"seq":4/, '"seq":-1'),
    ]) {
      expect(readLeafEvent(enc(s)), s).toBeUndefined();
    }
  });
});
