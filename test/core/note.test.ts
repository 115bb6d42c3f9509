// Signed notes and keys against test/vectors/notes.json (Go sumdb/note, C2SP signed-note).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, hexEncode } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import {
  cosignatureVerifierKey,
  generateKey,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyOf,
} from "../../src/core/keys.ts";
import { openNote, signNote } from "../../src/core/note.ts";
import { errorCode } from "../support/errors.ts";
import { junkString } from "./reference.ts";

const N = JSON.parse(readFileSync(new URL("../vectors/notes.json", import.meta.url), "utf8"));
const S = N.signed_note;
const [peter, enoch] = S.keys as {
  name: string;
  verifier_key: string;
  signer_key: string;
  key_hash_hex: string;
  signature_base64: string;
}[];
const text: string = S.text;
const both: string = S.signed_note_with_both;
const PV = parseVerifierKey(peter!.verifier_key);
const EV = parseVerifierKey(enoch!.verifier_key);

describe("keys", () => {
  it("each vector signer key yields its verifier key and key ID", () => {
    for (const k of S.keys) {
      const s = parseSignerKey(k.signer_key);
      expect(s.name).toBe(k.name);
      expect(hexEncode(s.keyId)).toBe(k.key_hash_hex);
      expect(verifierKeyOf(k.signer_key)).toBe(k.verifier_key);
      expect(parseVerifierKey(k.verifier_key).key).toBe(k.verifier_key);
    }
  });

  it("rejects every verifier key of verifier_keys_to_reject", () => {
    for (const k of N.verifier_keys_to_reject.keys)
      expect(
        errorCode(() => parseVerifierKey(k)),
        k,
      ).toBe("bad-key");
  });

  it("rejects every proper prefix and every single-character change of a good verifier key", () => {
    const good: string = peter!.verifier_key;
    for (let i = 0; i < good.length; i++)
      expect(errorCode(() => parseVerifierKey(good.slice(0, i)))).toBeDefined();
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=- ";
    for (let i = 0; i < good.length; i++) {
      for (const c of alphabet) {
        if (c === good[i]) continue;
        const bad = good.slice(0, i) + c + good.slice(i + 1);
        expect(
          errorCode(() => parseVerifierKey(bad)),
          bad,
        ).toBeDefined();
      }
    }
  });

  it("generated keys round-trip and give the 0x04 cosignature form of the same public key", () => {
    const k = generateKey("witness.example/w1", new Uint8Array(32).fill(3));
    const v = parseVerifierKey(k.verifierKey);
    const c = parseVerifierKey(k.cosignatureVerifierKey);
    expect(v.alg).toBe(1);
    expect(c.alg).toBe(4);
    expect(c.publicKey).toEqual(v.publicKey);
    expect(cosignatureVerifierKey(k.verifierKey)).toBe(k.cosignatureVerifierKey);
    expect(cosignatureVerifierKey(k.signerKey)).toBe(k.cosignatureVerifierKey);
    expect(cosignatureVerifierKey(k.cosignatureVerifierKey)).toBe(k.cosignatureVerifierKey);
    for (const ck of N.cosignature_v1.verifier_keys) parseVerifierKey(ck);
  });
});

describe("signed notes", () => {
  it("signing is deterministic: each signer key reproduces its vector signature byte for byte", () => {
    expect(
      signNote(text, [parseSignerKey(peter!.signer_key), parseSignerKey(enoch!.signer_key)]),
    ).toBe(both);
  });

  it("the C2SP example note verifies", () => {
    const v = parseVerifierKey(N.c2sp_example.verifier_key);
    expect(openNote(N.c2sp_example.note, [v]).text).toBe("This is an example message.\n");
  });

  it("verifiers {PeterNeumann}: verified [PeterNeumann], unverified [EnochRoot] (unknown signatures are ignored)", () => {
    const n = openNote(both, [PV]);
    expect(n.text).toBe(text);
    expect(n.verified.map((s) => s.name)).toEqual(["PeterNeumann"]);
    expect(n.unverified.map((s) => s.name)).toEqual(["EnochRoot"]);
  });

  it("verifiers {PeterNeumann, EnochRoot}: both verified", () => {
    expect(openNote(both, [PV, EV]).verified.map((s) => s.name)).toEqual([
      "PeterNeumann",
      "EnochRoot",
    ]);
  });

  it("verifiers {}: rejected as an unverified note", () => {
    expect(errorCode(() => openNote(both, []))).toBe("unverified");
  });

  it("a signature line repeated 101 times is malformed (more than 100 signatures)", () => {
    const line = both.split("\n")[3]!;
    const note = `${text}\n${`${line}\n`.repeat(101)}`;
    expect(errorCode(() => openNote(note, [PV]))).toBe("malformed");
    // 100 repeats are fine: duplicates are dropped.
    expect(openNote(`${text}\n${`${line}\n`.repeat(100)}`, [PV]).verified.length).toBe(1);
  });

  it("a known key's bad signature rejects the note, even when another key's signature is good", () => {
    const lines = both.split("\n");
    const bad = `${lines[3]!.slice(0, 60)}ABCD${lines[3]!.slice(60)}`;
    const note = `${text}\n${bad}\n${lines[4]}\n`;
    expect(errorCode(() => openNote(note, [PV, EV]))).toBe("bad-signature");
    // Flip one signature byte (well-formed base64 of the right length).
    const raw = base64Decode(peter!.signature_base64);
    raw[10]! ^= 1;
    const flipped = `${text}\n— PeterNeumann ${Buffer.from(raw).toString("base64")}\n${lines[4]}\n`;
    expect(errorCode(() => openNote(flipped, [PV, EV]))).toBe("bad-signature");
  });

  it("malformed notes: text alone, text plus newline, unterminated signature line, 0x01, invalid UTF-8, a name with a space, a trailing unexpected line", () => {
    const sig = both.split("\n")[3]!;
    const cases: (string | Uint8Array)[] = [
      text,
      `${text}\n`,
      `${text}\n${sig}`,
      `\u0001${both}`,
      new Uint8Array([0xff, ...new TextEncoder().encode(both)]),
      `${text}\n— Bad Name ${peter!.signature_base64}\n`,
      `${both}Unexpected line.\n`,
    ];
    for (const c of cases) expect(errorCode(() => openNote(c, [PV, EV]))).toBe("malformed");
  });

  it("verifier list {EnochRoot, PeterNeumann, EnochRoot} opening a note signed by EnochRoot: ambiguous key", () => {
    const note = signNote(text, [parseSignerKey(enoch!.signer_key)]);
    expect(errorCode(() => openNote(note, [EV, PV, EV]))).toBe("ambiguous-key");
  });

  it("a note over 1 MB is refused", () => {
    const big = `${"a".repeat(1_000_001)}\n\n— PeterNeumann ${peter!.signature_base64}\n`;
    expect(errorCode(() => openNote(big, [PV]))).toBe("malformed");
  });

  it("sign and open round-trip for arbitrary valid texts and names", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: "grapheme" }).map((s) => s.replace(/[\u0000-\u001f]/g, "")),
          { maxLength: 5 },
        ),
        fc.stringMatching(/^[a-z][a-z0-9./-]{0,30}$/),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (lines, name, seed) => {
          const t = `${lines.join("\n")}\n`;
          const k = generateKey(name, seed);
          const note = signNote(t, [parseSignerKey(k.signerKey)]);
          expect(openNote(note, [parseVerifierKey(k.verifierKey)]).text).toBe(t);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("junk never throws anything but a TrailError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.anything()), (junk) => {
        for (const f of [
          () => openNote(junk as string, [PV]),
          () => openNote(`${text}\n— PeterNeumann ${junkString(junk)}\n`, [PV]),
          () => parseVerifierKey(junk as string),
          () => parseSignerKey(junk as string),
          () => parseVerifierKey(`PeterNeumann+c74f20a3+${junkString(junk)}`),
        ]) {
          try {
            f();
          } catch (e) {
            expect(isTrailError(e), String(e)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
