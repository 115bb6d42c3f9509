// src/core/own-events.ts: which leaves read as events (POST /v1/leaves refuses them) and which
// erasure and access events are the log's own; src/core/printable.ts: what a terminal may see.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readLeafEvent } from "../../src/audit/leaf-event.ts";
import { type EventMeta, eventLeaf, parseLeaf } from "../../src/core/events.ts";
import { isLogOwnEvent, readsAsEvent } from "../../src/core/own-events.ts";
import { jsonLine, printable } from "../../src/core/printable.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const utf16le = (s: string) => new Uint8Array(Buffer.from(s, "utf16le"));
const utf16be = (s: string) => new Uint8Array(Buffer.from(s, "utf16le").swap16());
function utf32(s: string, le: boolean, bom = false): Uint8Array {
  const cps = [...(bom ? "\ufeff" : ""), ...s].map((c) => c.codePointAt(0)!);
  const out = new Uint8Array(cps.length * 4);
  const view = new DataView(out.buffer);
  for (const [i, cp] of cps.entries()) view.setUint32(i * 4, cp, le);
  return out;
}

const erasure: EventMeta = {
  v: 1,
  host: "log.example",
  server: "log",
  session: "log",
  window: "-",
  pane: "erasure",
  user: "admin",
  seq: 0,
  time: "2026-11-24T19:00:00.000Z",
  type: "erasure",
  erasure: { indexes: [[0, 3]], key: "admin", reason: "gdpr" },
};
const leafText = new TextDecoder().decode(eventLeaf(erasure));

describe("a leaf reads as an event", () => {
  it("when some JSON reader's decoding gives an object with v and host, an event type, or an erasure or access member", () => {
    for (const leaf of [
      enc(leafText),
      enc('{"v":1,"host":"x"}'),
      enc('{"v":"anything","host":null}'),
      enc('{"type":"erasure"}'),
      enc('{"type":"pane-open","x":1}'),
      enc('{"erasure":0}'),
      enc('{"access":{}}'),
      enc(` \n\t${leafText}\r\n`),
      enc(`\ufeff${leafText}`),
      enc('{"type":"invoice","type":"output"}'),
      enc('{"\\u0076":1,"h\\u006fst":"x"}'),
      enc(leafText.replace('"seq":0', '"seq":-1')),
      enc(leafText.replace("[[0,3]]", "[[3,0],[0,3]]")),
      // Invalid UTF-8 in a string: a lax reader replaces it (parseLeaf refuses the leaf).
      new Uint8Array([
        ...enc(leafText.split("gdpr")[0]!),
        0xff,
        ...enc(`gdpr${leafText.split("gdpr")[1]}`),
      ]),
      utf16le(leafText),
      utf16be(leafText),
      utf16le(`\ufeff${leafText}`),
      utf32(leafText, true),
      utf32(leafText, false),
      utf32(leafText, true, true),
    ]) {
      expect(readsAsEvent(leaf), new TextDecoder().decode(leaf)).toBe(true);
    }
  });

  it("and not otherwise: opaque bytes, text, arrays, and JSON objects of other shapes", () => {
    for (const leaf of [
      new Uint8Array(0),
      new Uint8Array([0, 0, 0, 0]),
      new Uint8Array([1, 2, 3, 0xff]),
      enc("bench leaf 17"),
      enc("{"),
      enc("[1,2]"),
      enc(`[${leafText}]`),
      enc('"{\\"v\\":1,\\"host\\":\\"x\\"}"'),
      enc('{"type":"invoice","id":7}'),
      enc('{"type":7}'),
      enc('{"v":1}'),
      enc('{"host":"x"}'),
      enc('{"data":{"v":1,"host":"x"}}'),
      utf16le('{"type":"invoice"}'),
    ]) {
      expect(readsAsEvent(leaf), new TextDecoder().decode(leaf)).toBe(false);
    }
  });

  it("whenever either event parser accepts the leaf", () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(...Object.keys(erasure)), (json, key) => {
        // Random JSON, and the erasure event with one member replaced by random JSON.
        for (const text of [json, leafText.replace(`"${key}":`, `"${key}":${json},"_":`)]) {
          const leaf = enc(text);
          let parsed = false;
          try {
            parseLeaf(leaf);
            parsed = true;
          } catch {}
          if (parsed || readLeafEvent(leaf)) expect(readsAsEvent(leaf)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the log's own events", () => {
  it("are erasure and access events with host = origin, server log, pane = type", () => {
    expect(isLogOwnEvent(erasure, "log.example")).toBe(true);
    expect(isLogOwnEvent({ ...erasure, pane: "access", type: "access" }, "log.example")).toBe(true);
    for (const ev of [
      { ...erasure, host: "web-1" },
      { ...erasure, server: "default" },
      { ...erasure, pane: "access" },
      { ...erasure, pane: "%3" },
      { ...erasure, type: "output", pane: "output" },
    ]) {
      expect(isLogOwnEvent(ev, "log.example"), JSON.stringify(ev)).toBe(false);
    }
    expect(isLogOwnEvent(erasure, undefined)).toBe(false);
  });
});

describe("printable", () => {
  it("escapes C0, DEL, C1 and the reordering characters, and keeps everything else", () => {
    expect(printable("ok\u001b[2J\u0007\n\t")).toBe("ok\\x1b[2J\\x07\\x0a\\x09");
    expect(printable("\u007f\u0080\u009b31m\u00a0é")).toBe("\\x7f\\x80\\x9b31m\u00a0é");
    expect(printable("a\u202eb\u2066c\u2028")).toBe("a\\u202eb\\u2066c\\u2028");
    expect(printable("host-1 alice $1/%3 ✓ 日本")).toBe("host-1 alice $1/%3 ✓ 日本");
  });

  it("jsonLine is the same JSON value with no raw control or reordering character", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (v, s) => {
        const value = { v, s };
        const line = jsonLine(value);
        expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
      }),
    );
  });
});
