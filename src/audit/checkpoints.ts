// Checking one stored or served checkpoint (C2SP tlog-checkpoint in a signed note): the log key's
// signature verifies, the body parses, its size and root are the ones recorded beside it, and the
// root is the one rebuilt from the leaves at that size. Checked against one rebuilt tree, every
// checkpoint the log ever signed is thereby a prefix of it: they are mutually consistent.
//
// A long-lived log signs a checkpoint every second or so, so signatures are verified with
// node:crypto's Ed25519 (an order of magnitude faster than the isomorphic verifier); the note and
// key handling stays the library's (openCheckpoint).

import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { type Checkpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, bytesEqual } from "../core/encoding.ts";
import type { Hash } from "../core/hash.ts";
import { ALG_ED25519, type Verifier } from "../core/keys.ts";
import type { Finding } from "./findings.ts";

/** The same verifier, checking Ed25519 note signatures with node:crypto. */
export function fastVerifier(v: Verifier): Verifier {
  if (v.alg !== ALG_ED25519) return v;
  const key = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(v.publicKey).toString("base64url") },
    format: "jwk",
  });
  return { ...v, verify: (msg, sig) => sig.length === 64 && cryptoVerify(null, msg, key, sig) };
}

/**
 * Opens `note` with the log's verifiers; a finding (kind "checkpoint") when it does not verify,
 * does not parse, or does not say `expect` (the size and root recorded beside it, when given).
 */
export function openLogCheckpoint(
  note: string,
  verifiers: readonly Verifier[],
  label: number | string,
  expect?: { size: number; root: Uint8Array },
): { checkpoint?: Checkpoint; finding?: Finding } {
  const size = typeof label === "number" ? label : undefined;
  const at = typeof label === "number" ? `checkpoint ${label}` : label;
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(note, verifiers).checkpoint;
  } catch (e) {
    return {
      finding: {
        kind: "checkpoint",
        size,
        message: `${at}: the note does not verify with the log key: ${(e as Error).message}`,
      },
    };
  }
  if (expect && (checkpoint.size !== expect.size || !bytesEqual(checkpoint.root, expect.root))) {
    return {
      checkpoint,
      finding: {
        kind: "checkpoint",
        size,
        message: `${at}: the signed note says size ${checkpoint.size} root ${base64Encode(checkpoint.root)}, the row says size ${expect.size} root ${base64Encode(expect.root)}`,
      },
    };
  }
  return { checkpoint };
}

/** A finding when `signed` is not the root rebuilt from the leaves at that size. */
export function rootFinding(
  size: number,
  signed: Hash,
  rebuilt: Hash,
  label = `checkpoint ${size}`,
): Finding | undefined {
  if (bytesEqual(signed, rebuilt)) return undefined;
  return {
    kind: "checkpoint",
    size,
    message: `${label}: root ${base64Encode(signed)} is not the root of the first ${size} leaves (${base64Encode(rebuilt)})`,
  };
}
