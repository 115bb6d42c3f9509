// The tmux event schema (docs/design.md §2.3) and RFC 8785 canonical JSON.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Encode, utf8Encode } from "../../src/core/encoding.ts";
import { isTrailError, type TrailErrorCode } from "../../src/core/errors.ts";
import {
  commitment,
  EVENT_TYPES,
  eventMetaSchema,
  makeSubmission,
  parseCommandContent,
  parseLeaf,
  parseSubmission,
  submissionSchema,
  timeSchema,
} from "../../src/core/events.ts";
import { canonicalJson } from "../../src/core/jcs.ts";
import { errorCode } from "../support/errors.ts";
import { makeSubmission as handMade } from "../support/events.ts";

describe("RFC 8785 canonical JSON", () => {
  // Examples from RFC 8785 §3.2.2 (numbers via ES serialisation) and §3.2.3 (sorting).
  it("serialises numbers as ECMAScript does", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [-0, "0"],
      [1e21, "1e+21"],
      [1e-7, "1e-7"],
      [333333333.3333333, "333333333.3333333"],
      [9007199254740991, "9007199254740991"],
      [4.5, "4.5"],
      [2e-3, "0.002"],
      [0.000001, "0.000001"],
    ];
    for (const [n, s] of cases) expect(canonicalJson(n)).toBe(s);
  });

  it("sorts keys by UTF-16 code units (the RFC 8785 §3.2.3 example order)", () => {
    const obj = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    const c = canonicalJson(obj);
    const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"].map((k) =>
      c.indexOf(JSON.stringify(k)),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("escapes strings minimally and drops whitespace", () => {
    expect(canonicalJson({ b: [1, '\u0001\n"\\/é'], a: null, c: true })).toBe(
      '{"a":null,"b":[1,"\\u0001\\n\\"\\\\/é"],"c":true}',
    );
  });

  it("refuses non-JSON values", () => {
    for (const v of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      undefined,
      () => 1,
      1n,
      "\ud800",
      new Date(0),
    ]) {
      expect(errorCode(() => canonicalJson(v))).toBe("malformed");
    }
  });

  it("canonical JSON re-parses to the same value and is a fixed point", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalJson(v);
        expect(canonicalJson(JSON.parse(c))).toBe(c);
      }),
    );
  });
});

describe("tmux events", () => {
  const salt = new Uint8Array(32).fill(9);

  it("a valid output event becomes its canonical leaf, and the commitment is SHA-256(salt || content)", () => {
    const sub = handMade({ seq: 42, content: "hello\r\n", salt: Buffer.from(salt) });
    const p = parseSubmission(sub);
    const { content: _c, salt: _s, ...meta } = sub;
    expect(new TextDecoder().decode(p.leaf)).toBe(canonicalJson(meta));
    expect(p.content).toEqual(utf8Encode("hello\r\n"));
    const want = createHash("sha256").update(salt).update("hello\r\n").digest("base64");
    expect(commitment(salt, utf8Encode("hello\r\n"))).toBe(want);
    expect(parseLeaf(p.leaf)).toEqual(p.meta);
  });

  it("binary content travels as base64 with enc: base64", () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x1b, 0x5b]);
    const meta = {
      v: 1 as const,
      host: "h",
      server: "s@1",
      session: "$0",
      window: "@0",
      pane: "%0",
      user: "u",
      seq: 0,
      time: "2026-11-24T19:00:00Z",
      type: "output" as const,
    };
    const sub = makeSubmission(meta, bytes, salt);
    expect(sub.enc).toBe("base64");
    expect(parseSubmission(sub).content).toEqual(bytes);
  });

  it("lifecycle events carry no payload and no content", () => {
    const sub = handMade({ seq: 0, type: "session-open", pane: "-" });
    expect(parseSubmission(sub).content).toBeUndefined();
    expect(
      errorCode(() => parseSubmission({ ...sub, content: "x", salt: base64Encode(salt) })),
    ).toBe("bad-event");
    expect(errorCode(() => parseSubmission({ ...handMade({ seq: 0 }), type: "attach" }))).toBe(
      "bad-event",
    );
  });

  it("command content must be canonical JSON of line, cwd, exit, start, end", () => {
    const cmd = canonicalJson({
      line: "ls -l",
      cwd: "/tmp",
      exit: 0,
      start: "2026-11-24T19:00:00.000Z",
      end: "2026-11-24T19:00:00.100Z",
    });
    expect(parseCommandContent(utf8Encode(cmd)).line).toBe("ls -l");
    parseSubmission(handMade({ seq: 1, type: "command", content: cmd }));
    expect(
      errorCode(() =>
        parseSubmission(handMade({ seq: 1, type: "command", content: '{"line":"ls"}' })),
      ),
    ).toBe("bad-event");
    const spaced =
      '{"cwd":"/", "end":"2026-11-24T19:00:00Z","exit":null,"line":"x","start":"2026-11-24T19:00:00Z"}';
    expect(errorCode(() => parseCommandContent(utf8Encode(spaced)))).toBe("bad-event");
  });

  it("each kind of bad input is rejected naming the field", () => {
    const good = handMade({ seq: 3 });
    const cases: [Record<string, unknown>, TrailErrorCode, RegExp][] = [
      [{ ...good, seq: -1 }, "bad-event", /seq/],
      [{ ...good, seq: 1.5 }, "bad-event", /seq/],
      [{ ...good, v: 2 }, "bad-event", /v/],
      [{ ...good, type: "nope" }, "bad-event", /type/],
      [{ ...good, time: "2026-02-30T00:00:00Z" }, "bad-event", /time/],
      [{ ...good, time: "2026-11-24T19:00:00+01:00" }, "bad-event", /time/],
      [{ ...good, host: "" }, "bad-event", /host/],
      [{ ...good, host: "a\nb" }, "bad-event", /host/],
      [{ ...good, surprise: 1 }, "bad-event", /surprise|Unrecognized/i],
      [{ ...good, salt: "AAAA" }, "bad-event", /salt/],
      [{ ...good, content: "other" }, "commitment-mismatch", /size|sha256/],
      [
        { ...good, payload: { ...(good.payload as object), size: 1 } },
        "commitment-mismatch",
        /size/,
      ],
      [{ ...good, enc: "base64" }, "malformed", /content/],
    ];
    for (const [bad, code, re] of cases) {
      let err: unknown;
      try {
        parseSubmission(bad);
      } catch (e) {
        err = e;
      }
      expect(isTrailError(err, code), `${JSON.stringify(bad)}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
  });

  it("a leaf over 65535 bytes is refused", () => {
    const sub = handMade({ seq: 0 });
    expect(
      errorCode(() =>
        parseSubmission({
          ...sub,
          redactions: Array(900).fill({
            kind: "password-prompt-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            at: 123456,
            len: 1234567,
          }),
        }),
      ),
    ).toBe("bad-event");
  });

  it("a stored leaf must be exactly canonical", () => {
    const p = parseSubmission(handMade({ seq: 0 }));
    const text = new TextDecoder().decode(p.leaf);
    expect(errorCode(() => parseLeaf(utf8Encode(` ${text}`)))).toBe("bad-event");
    expect(errorCode(() => parseLeaf(utf8Encode(text.replace('"v":1', '"v":1.0'))))).toBe(
      "bad-event",
    );
  });

  it("one schema pass decides as the field schema plus the rules across fields would", () => {
    // The reference: the submission schema's fields, then the rules across fields of
    // docs/design.md §2.3 written out here (payload by type, erasure and access only on their own types).
    const twoPass = (json: unknown) => {
      const r = submissionSchema.safeParse(json);
      if (!r.success) {
        const i = r.error.issues[0]!;
        return { error: `${i.path.length ? i.path.join(".") : "event"}: ${i.message}` };
      }
      const { content: _c, salt: _s, enc: _e, ...meta } = r.data;
      const content = meta.type === "output" || meta.type === "command";
      if (content && !meta.payload) return { error: `payload: required for ${meta.type} events` };
      if (!content && meta.payload)
        return { error: `payload: not allowed for ${meta.type} events` };
      if ((meta.type === "erasure") !== (meta.erasure !== undefined))
        return { error: "erasure: erasure events, and only they, carry `erasure`" };
      if ((meta.type === "access") !== (meta.access !== undefined))
        return { error: "access: access events, and only they, carry `access`" };
      return { meta };
    };
    const good = handMade({ seq: 5 });
    const extras: Record<string, unknown> = {
      type: undefined, // replaced by a generated type
      payload: { size: 0, sha256: base64Encode(new Uint8Array(32)) },
      erasure: { indexes: [[0, 1]], key: "k", reason: "gdpr" },
      access: { key: "k", read: "entry 1" },
      client: { user: "u", tty: "/dev/pts/1" },
      size: { cols: 80, rows: 24 },
      name: "w",
      time: "2026-13-01T00:00:00Z",
      seq: -1,
    };
    const mutated = fc
      .record({
        drop: fc.subarray(Object.keys(good)),
        add: fc.subarray(Object.keys(extras)),
        type: fc.constantFrom(...EVENT_TYPES),
      })
      .map(({ drop, add, type }) => {
        const o: Record<string, unknown> = { ...good };
        for (const k of drop) delete o[k];
        for (const k of add) o[k] = k === "type" ? type : extras[k];
        return o;
      });
    fc.assert(
      fc.property(mutated, (sub) => {
        const want = twoPass(sub);
        let got: { meta?: unknown; message?: string };
        try {
          got = { meta: parseSubmission(sub).meta };
        } catch (e) {
          got = { message: (e as Error).message };
        }
        if (want.error) {
          expect(got.message).toBe(want.error);
        } else {
          // The event schema (what parseLeaf reads back with) agrees on the metadata.
          expect(eventMetaSchema.safeParse(want.meta).success).toBe(true);
        }
        if (got.meta) {
          expect(want.meta).toEqual(got.meta);
        } else if (!want.error) {
          // Valid metadata, refused later for its content (commitment, size, salt).
          expect(got.message).not.toMatch(/^(payload|erasure|access): /);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("a time is valid exactly when Date reads back the same UTC date and time", () => {
    // The reference: build the instant with Date.UTC and compare each field (years below 100
    // come back as 19xx, so they are refused too).
    const reference = (y: number, mo: number, d: number, h: number, mi: number, s: number) => {
      const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
      return (
        t.getUTCFullYear() === y &&
        t.getUTCMonth() === mo - 1 &&
        t.getUTCDate() === d &&
        h < 24 &&
        mi < 60 &&
        s < 60
      );
    };
    const two = fc.integer({ min: 0, max: 99 });
    const pad = (n: number, w = 2) => String(n).padStart(w, "0");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 9999 }),
          fc.constantFrom(0, 99, 100, 1900, 2000, 2100, 2024),
        ),
        fc.oneof(two, fc.integer({ min: 0, max: 13 }), fc.constant(2)),
        fc.oneof(two, fc.integer({ min: 27, max: 32 })),
        fc.tuple(two, two, two),
        fc.boolean(),
        (y, mo, d, [h, mi, s], frac) => {
          const text = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${frac ? ".5" : ""}Z`;
          expect(timeSchema.safeParse(text).success, text).toBe(reference(y, mo, d, h, mi, s));
        },
      ),
      { numRuns: 3000 },
    );
    for (const [text, ok] of [
      ["2000-02-29T00:00:00Z", true],
      ["2024-02-29T23:59:59.999Z", true],
      ["1900-02-29T00:00:00Z", false],
      ["2100-02-29T00:00:00Z", false],
      ["2023-02-29T00:00:00Z", false],
      ["2026-04-31T00:00:00Z", false],
      ["2026-12-31T24:00:00Z", false],
      ["0099-01-01T00:00:00Z", false],
      ["0100-01-01T00:00:00Z", true],
    ] as const) {
      expect(timeSchema.safeParse(text).success, text).toBe(ok);
    }
  });

  it("junk never throws anything but a TrailError", () => {
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        for (const f of [
          () => parseSubmission(junk),
          () => parseLeaf(utf8Encode(JSON.stringify(junk) ?? "")),
        ]) {
          try {
            f();
          } catch (e) {
            expect(isTrailError(e), String(e)).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
