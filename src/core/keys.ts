// Signed-note keys (C2SP signed-note, Go golang.org/x/mod/sumdb/note compatible), Ed25519 only.
//
//   key ID          first 4 bytes of SHA-256(name || "\n" || alg || public key)
//   verifier key    <name>+<8 hex key ID>+base64(alg || 32-byte public key)
//   signer key      PRIVATE+KEY+<name>+<8 hex key ID>+base64(0x01 || 32-byte seed)
//
// alg 0x01 is an Ed25519 note signature over the note text. alg 0x04 is C2SP tlog-cosignature
// v1 (cosignature/v1): the same Ed25519 key, signing "cosignature/v1\ntime <t>\n" + text, with
// signature bytes uint64be(time) || sig. A witness signs with an ordinary 0x01 signer key; others
// name it by the 0x04 verifier key of the same public key (docs/design.md §2.5).
//
// Names: non-empty, no Unicode space, no "+", valid Unicode (Go's isValidName).

import { ed25519 } from "@noble/curves/ed25519.js";
import { base64Decode, base64Encode, concatBytes, hexEncode, utf8Encode } from "./encoding.ts";
import { check, show, TrailError } from "./errors.ts";
import { sha256 } from "./hash.ts";

export const ALG_ED25519 = 0x01;
export const ALG_COSIGNATURE_V1 = 0x04;

export interface Verifier {
  name: string;
  /** 4-byte key ID. */
  keyId: Uint8Array;
  alg: typeof ALG_ED25519 | typeof ALG_COSIGNATURE_V1;
  publicKey: Uint8Array;
  /** The verifier key string. */
  key: string;
  /** Checks `sig` (the signature bytes after the key ID) over the note text `msg`. */
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

export interface Signer {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
  /** Ed25519 signature over `msg` (64 bytes). */
  sign(msg: Uint8Array): Uint8Array;
}

// Go's unicode.IsSpace.
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isValidKeyName(name: unknown): name is string {
  return (
    typeof name === "string" &&
    name.length > 0 &&
    name.length <= 1024 &&
    !name.includes("+") &&
    !SPACE.test(name) &&
    !LONE_SURROGATE.test(name)
  );
}

export function computeKeyId(name: string, alg: number, publicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8Encode(name), new Uint8Array([0x0a, alg]), publicKey)).subarray(
    0,
    4,
  );
}

function ed25519Verify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  try {
    return sig.length === 64 && ed25519.verify(sig, msg, pub, { zip215: false });
  } catch {
    return false;
  }
}

const COSIG_PREFIX = "cosignature/v1\ntime ";

/** The message a cosignature/v1 signs: "cosignature/v1\ntime <t>\n" followed by the checkpoint text. */
export function cosignedMessage(text: Uint8Array, time: number): Uint8Array {
  return concatBytes(utf8Encode(`${COSIG_PREFIX}${time}\n`), text);
}

export function makeVerifier(name: string, alg: number, publicKey: Uint8Array): Verifier {
  check(isValidKeyName(name), "bad-key", `invalid key name ${show(name)}`);
  check(
    alg === ALG_ED25519 || alg === ALG_COSIGNATURE_V1,
    "bad-key",
    `unsupported key algorithm ${alg}`,
  );
  check(publicKey.length === 32, "bad-key", "an Ed25519 public key is 32 bytes");
  const keyId = computeKeyId(name, alg, publicKey);
  const key = `${name}+${hexEncode(keyId)}+${base64Encode(concatBytes(new Uint8Array([alg]), publicKey))}`;
  const verify =
    alg === ALG_ED25519
      ? (msg: Uint8Array, sig: Uint8Array) => ed25519Verify(sig, msg, publicKey)
      : (msg: Uint8Array, sig: Uint8Array) => {
          if (sig.length !== 72) return false;
          const time = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
          // Time 0 and times beyond 2^53 are refused (a timestamp is never zero).
          if (time === 0n || time > BigInt(Number.MAX_SAFE_INTEGER)) return false;
          return ed25519Verify(sig.subarray(8), cosignedMessage(msg, Number(time)), publicKey);
        };
  return { name, keyId, alg: alg as Verifier["alg"], publicKey, key, verify };
}

/** Splits at the first n-1 "+" signs; undefined when there are fewer. */
function splitPlus(text: string, n: number): string[] | undefined {
  const out: string[] = [];
  let rest = text;
  for (let i = 0; i < n - 1; i++) {
    const p = rest.indexOf("+");
    if (p < 0) return undefined;
    out.push(rest.slice(0, p));
    rest = rest.slice(p + 1);
  }
  out.push(rest);
  return out;
}

/** Parses `name+hex+base64`, alg 0x01 or 0x04, checking that the key ID matches. */
export function parseVerifierKey(text: string): Verifier {
  check(typeof text === "string" && text.length <= 2048, "bad-key", "verifier key is not a string");
  // The base64 part may itself contain "+": split at the first two only (as Go's chop does).
  const parts = splitPlus(text, 3);
  check(parts, "bad-key", `verifier key ${show(text)} is not name+keyid+key`);
  const [name, hex, b64] = parts as [string, string, string];
  check(isValidKeyName(name), "bad-key", `invalid key name in ${show(text)}`);
  check(
    /^[0-9a-f]{8}$/.test(hex),
    "bad-key",
    `key ID of ${show(text)} is not 8 lowercase hex digits`,
  );
  let raw: Uint8Array;
  try {
    raw = base64Decode(b64, "verifier key", 33);
  } catch (e) {
    throw new TrailError("bad-key", `verifier key ${show(text)}: ${(e as Error).message}`);
  }
  const v = makeVerifier(name, raw[0]!, raw.subarray(1));
  check(
    hexEncode(v.keyId) === hex,
    "bad-key",
    `key ID ${hex} does not match the key of ${show(name)}`,
  );
  return v;
}

/**
 * A log's verifier key: `parseVerifierKey`, and the key must be an Ed25519 signed-note key (alg
 * 0x01). A log signs its checkpoints with such a key; a cosignature/v1 key (0x04) names a witness,
 * and taking one for the log would accept a note that only that witness cosigned as log-signed.
 * Every `--log-key` and every other key trusted for a log is parsed here.
 */
export function parseLogVerifierKey(text: string): Verifier {
  const v = parseVerifierKey(text);
  check(
    v.alg === ALG_ED25519,
    "bad-key",
    `${v.name}+${hexEncode(v.keyId)} is a witness cosignature key (algorithm 0x04), not a log key: a log's verifier key is an Ed25519 signed-note key (algorithm 0x01): the "vkey" keygen prints, not its "cosig-vkey"`,
  );
  return v;
}

export function makeSigner(name: string, seed: Uint8Array): Signer {
  check(isValidKeyName(name), "bad-key", `invalid key name ${show(name)}`);
  check(seed instanceof Uint8Array && seed.length === 32, "bad-key", "an Ed25519 seed is 32 bytes");
  const s = seed.slice();
  const publicKey = ed25519.getPublicKey(s);
  return {
    name,
    keyId: computeKeyId(name, ALG_ED25519, publicKey),
    publicKey,
    sign: (msg) => ed25519.sign(msg, s),
  };
}

/** Parses `PRIVATE+KEY+name+hex+base64(0x01 || seed)`. */
export function parseSignerKey(text: string): Signer {
  check(typeof text === "string" && text.length <= 2048, "bad-key", "signer key is not a string");
  const parts = splitPlus(text, 5);
  check(
    parts && parts[0] === "PRIVATE" && parts[1] === "KEY",
    "bad-key",
    "signer key is not PRIVATE+KEY+name+keyid+key",
  );
  const [, , name, hex, b64] = parts as [string, string, string, string, string];
  check(/^[0-9a-f]{8}$/.test(hex), "bad-key", "signer key ID is not 8 lowercase hex digits");
  let raw: Uint8Array;
  try {
    raw = base64Decode(b64, "signer key", 33);
  } catch (e) {
    throw new TrailError("bad-key", `signer key: ${(e as Error).message}`);
  }
  check(raw[0] === ALG_ED25519, "bad-key", "signer key is not an Ed25519 (0x01) key");
  const signer = makeSigner(name, raw.subarray(1));
  check(hexEncode(signer.keyId) === hex, "bad-key", "signer key ID does not match its key");
  return signer;
}

export function formatSignerKey(name: string, seed: Uint8Array): string {
  const s = makeSigner(name, seed);
  return `PRIVATE+KEY+${name}+${hexEncode(s.keyId)}+${base64Encode(concatBytes(new Uint8Array([ALG_ED25519]), seed))}`;
}

/** The 0x01 verifier key of a signer key string. */
export function verifierKeyOf(signerKey: string): string {
  const s = parseSignerKey(signerKey);
  return makeVerifier(s.name, ALG_ED25519, s.publicKey).key;
}

/**
 * The canonical cosignature/v1 (0x04) verifier key for a witness named by its 0x04 key, its 0x01
 * verifier key or its signer key.
 */
export function cosignatureVerifierKey(key: string): string {
  if (key.startsWith("PRIVATE+KEY+")) {
    const s = parseSignerKey(key);
    return makeVerifier(s.name, ALG_COSIGNATURE_V1, s.publicKey).key;
  }
  const v = parseVerifierKey(key);
  return makeVerifier(v.name, ALG_COSIGNATURE_V1, v.publicKey).key;
}

/** A new key from 32 random bytes (randomness is passed in: src/core has no entropy source). */
export function generateKey(name: string, seed: Uint8Array) {
  const signerKey = formatSignerKey(name, seed);
  const verifierKey = verifierKeyOf(signerKey);
  return { signerKey, verifierKey, cosignatureVerifierKey: cosignatureVerifierKey(signerKey) };
}
