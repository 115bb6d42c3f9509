// Checkpoints, cosignatures (cosignature/v1) and tlog-proofs against test/vectors/notes.json.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from "../../src/core/checkpoint.ts";
import {
  addSignatures,
  cosign,
  cosignatureTime,
  verifyCosignature,
} from "../../src/core/cosignature.ts";
import { base64Decode, base64Encode, hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import {
  cosignedMessage,
  generateKey,
  parseSignerKey,
  parseVerifierKey,
} from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { inclusionProof, treeRoot } from "../../src/core/proof.ts";
import { formatTlogProof, parseTlogProof, verifyTlogProof } from "../../src/core/tlog-proof.ts";
import { errorCode } from "../support/errors.ts";
import { junkString, leafHashes, naiveReader } from "./reference.ts";

const N = JSON.parse(readFileSync(new URL("../vectors/notes.json", import.meta.url), "utf8"));
const C = N.checkpoint;

const log = generateKey("example.com/log", new Uint8Array(32).fill(1));
const w1 = generateKey("witness1.example", new Uint8Array(32).fill(2));
const w2 = generateKey("witness2.example", new Uint8Array(32).fill(3));
const logV = parseVerifierKey(log.verifierKey);
const w1V = parseVerifierKey(w1.cosignatureVerifierKey);
const w2V = parseVerifierKey(w2.cosignatureVerifierKey);

describe("tlog-checkpoint", () => {
  it("formats the vector checkpoint and the empty tree root", () => {
    const cp = {
      origin: "go.sum database tree",
      size: 123456789012,
      root: base64Decode(C.record_hash_hello_world_base64),
    };
    expect(formatCheckpoint(cp)).toBe(C.formatted);
    expect(parseCheckpoint(C.formatted)).toEqual(cp);
    expect(base64Encode(rfc6962.emptyRoot())).toBe(C.empty_tree_root_base64);
  });

  it("parses strictly: format(parse(x)) === x and every must_reject case is refused", () => {
    const root = C.record_hash_hello_world_base64;
    for (const bad of [
      `o\n0xabcdef\n${root}\n`, // size in hex
      `o\n0123\n${root}\n`, // leading zero
      `o\n+123\n${root}\n`, // plus sign
      `o\n12\n${root.slice(4)}\n`, // root not 32 bytes
      `o\n12\n${root}`, // no final newline
      `o\n12\n`, // fewer than three lines
      `\n12\n${root}\n`, // empty origin
      `o\n12\n${root}\n\n`, // empty extension line
      `o\n9007199254740992\n${root}\n`, // beyond 2^53-1
    ]) {
      expect(
        errorCode(() => parseCheckpoint(bad)),
        JSON.stringify(bad),
      ).toBe("malformed");
    }
    expect(C.must_reject.length).toBe(4);
    const ext = `o\n12\n${root}\nextension line\n`;
    expect(parseCheckpoint(ext).extensions).toEqual(["extension line"]);
  });

  it("format(parse(x)) === x for random checkpoints", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9./-]{1,40}$/),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (origin, size, root) => {
          const t = formatCheckpoint({ origin, size, root });
          expect(formatCheckpoint(parseCheckpoint(t))).toBe(t);
        },
      ),
    );
  });
});

describe("cosignature/v1", () => {
  it("extracts the timestamp and key ID from the vector cosignature", () => {
    const raw = base64Decode(N.cosignature_v1.timestamp_extraction.signature_base64);
    expect(hexEncode(raw.subarray(0, 4))).toBe(N.cosignature_v1.timestamp_extraction.key_id_hex);
    expect(cosignatureTime(raw)).toBe(N.cosignature_v1.timestamp_extraction.time);
  });

  it("signs the message format of the spec", () => {
    const ex: string = N.cosignature_v1.message_example;
    const body = ex.slice(ex.indexOf("\n", ex.indexOf("time ")) + 1);
    expect(new TextDecoder().decode(cosignedMessage(utf8Encode(body), 1679315147))).toBe(ex);
  });

  it("a plain Ed25519 note signature is not accepted as a cosignature", () => {
    const raw = base64Decode(N.cosignature_v1.wrong_type_plain_ed25519_signature_base64);
    expect(errorCode(() => cosignatureTime(raw))).toBe("malformed");
  });

  it("cosign then verify; time is kept; time 0 is refused; another key or text fails", () => {
    const body = formatCheckpoint({
      origin: "example.com/log",
      size: 5,
      root: rfc6962.emptyRoot(),
    });
    const line = cosign(body, parseSignerKey(w1.signerKey), 1_700_000_000);
    expect(verifyCosignature(body, line, w1V)).toBe(1_700_000_000);
    expect(errorCode(() => verifyCosignature(body, line, w2V))).toBe("bad-signature");
    expect(errorCode(() => verifyCosignature(body.replace("5", "6"), line, w1V))).toBe(
      "bad-signature",
    );
    expect(errorCode(() => cosign(body, parseSignerKey(w1.signerKey), 0))).toBe("malformed");
  });
});

describe("openCheckpoint: log signature and witness quorum", () => {
  const body = formatCheckpoint({ origin: "example.com/log", size: 7, root: rfc6962.emptyRoot() });
  const signed = signNote(body, [parseSignerKey(log.signerKey)]);
  const cosigned = addSignatures(signed, [
    cosign(body, parseSignerKey(w1.signerKey), 1_700_000_001),
    cosign(body, parseSignerKey(w2.signerKey), 1_700_000_002),
  ]);

  it("a 2-of-2 quorum holds with both cosignatures, and reports their times", () => {
    const o = openCheckpoint(cosigned, [logV], [w1V, w2V], 2);
    expect(o.checkpoint.size).toBe(7);
    expect(o.witnesses.map((w) => w.time).sort()).toEqual([1_700_000_001, 1_700_000_002]);
  });

  it("fewer valid cosignatures than the quorum is a quorum failure", () => {
    expect(errorCode(() => openCheckpoint(signed, [logV], [w1V, w2V], 1))).toBe("quorum");
  });

  it("a checkpoint signed only by witnesses is not signed by the log", () => {
    const onlyWitness = `${body}\n${cosign(body, parseSignerKey(w1.signerKey), 5)}`;
    expect(errorCode(() => openCheckpoint(onlyWitness, [logV], [w1V], 0))).toBe("unverified");
  });

  it("a trusted witness's bad cosignature rejects the checkpoint", () => {
    const bad = `${signed}${cosign(body.replace("7", "8"), parseSignerKey(w1.signerKey), 9)}`;
    expect(errorCode(() => openCheckpoint(bad, [logV], [w1V], 0))).toBe("bad-signature");
  });

  it("addSignatures keeps the log's signature first and drops duplicates", () => {
    const again = addSignatures(cosigned, [
      cosign(body, parseSignerKey(w1.signerKey), 1_700_000_001),
    ]);
    expect(again).toBe(cosigned);
    expect(cosigned.startsWith(signed)).toBe(true);
  });
});

describe("c2sp.org/tlog-proof@v1", () => {
  const d = leafHashes(21);
  async function makeProof(index: number, extra?: Uint8Array) {
    const root = await treeRoot(21, naiveReader(d));
    const body = formatCheckpoint({ origin: "example.com/log", size: 21, root });
    const note = addSignatures(signNote(body, [parseSignerKey(log.signerKey)]), [
      cosign(body, parseSignerKey(w1.signerKey), 1_700_000_003),
    ]);
    const proof = await inclusionProof(index, 21, naiveReader(d));
    return formatTlogProof({ index, proof, checkpoint: note, ...(extra ? { extra } : {}) });
  }

  it("formats, parses back identically, and verifies against the log key and a witness quorum", async () => {
    for (const extra of [undefined, new Uint8Array([1, 2, 3])]) {
      const text = await makeProof(13, extra);
      expect(text.startsWith("c2sp.org/tlog-proof@v1\n")).toBe(true);
      expect(formatTlogProof(parseTlogProof(text))).toBe(text);
      const r = verifyTlogProof(text, d[13]!, [logV], [w1V, w2V], 1);
      expect(r.proof.index).toBe(13);
    }
  });

  it("fails for another leaf, another index, a missing quorum, a bad proof line", async () => {
    const text = await makeProof(13);
    expect(errorCode(() => verifyTlogProof(text, d[12]!, [logV]))).toBe("proof-mismatch");
    expect(
      errorCode(() => verifyTlogProof(text.replace("index 13", "index 12"), d[13]!, [logV])),
    ).toBeDefined();
    expect(errorCode(() => verifyTlogProof(text, d[13]!, [logV], [w1V, w2V], 2))).toBe("quorum");
    const lines = text.split("\n");
    lines[2] = lines[2]!.slice(0, -2);
    expect(errorCode(() => verifyTlogProof(lines.join("\n"), d[13]!, [logV]))).toBe("malformed");
    expect(errorCode(() => parseTlogProof(text.replace("index 13", "index 013")))).toBe(
      "malformed",
    );
  });

  it("junk never throws anything but a TrailError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), (junk) => {
        for (const f of [
          () => parseTlogProof(junk as string),
          () => parseTlogProof(`c2sp.org/tlog-proof@v1\nindex 1\n${junkString(junk)}\n\n`),
          () => parseCheckpoint(junk as string),
          () => openCheckpoint(junk as string, [logV]),
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
