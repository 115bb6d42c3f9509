// C2SP tlog-cosignature v1.0.1 (cosignature/v1): a witness's timestamped Ed25519 signature of a
// checkpoint. The signed message is
//
//   "cosignature/v1\ntime <unix seconds>\n" + <checkpoint text>
//
// and the note signature bytes are keyID(4) || uint64be(time) || Ed25519 signature(64) = 76
// bytes, where the key ID hashes alg byte 0x04 (keys.ts). Time is passed in and never zero.

import { base64Decode, concatBytes, uint64be, utf8Encode } from "./encoding.ts";
import { check, show } from "./errors.ts";
import {
  ALG_COSIGNATURE_V1,
  computeKeyId,
  cosignedMessage,
  type Signer,
  type Verifier,
} from "./keys.ts";
import { parseSignatureLine, signatureLine } from "./note.ts";

/** The cosignature line (`— <name> <base64>\n`) of `signer` over the checkpoint text at `time`. */
export function cosign(checkpointText: string, signer: Signer, time: number): string {
  check(
    Number.isSafeInteger(time) && time > 0,
    "malformed",
    `cosignature time ${show(time)} must be a positive integer`,
  );
  check(
    typeof checkpointText === "string" && checkpointText.endsWith("\n"),
    "malformed",
    "checkpoint text must end in a newline",
  );
  const keyId = computeKeyId(signer.name, ALG_COSIGNATURE_V1, signer.publicKey);
  const sig = signer.sign(cosignedMessage(utf8Encode(checkpointText), time));
  return signatureLine(signer.name, keyId, concatBytes(uint64be(time), sig));
}

/** The timestamp inside cosignature bytes (keyID || time || sig, 76 bytes). */
export function cosignatureTime(sigBytes: Uint8Array): number {
  check(
    sigBytes instanceof Uint8Array && sigBytes.length === 76,
    "malformed",
    "a cosignature is 76 bytes",
  );
  const t = new DataView(sigBytes.buffer, sigBytes.byteOffset + 4, 8).getBigUint64(0);
  check(
    t > 0n && t <= BigInt(Number.MAX_SAFE_INTEGER),
    "malformed",
    "cosignature time out of range",
  );
  return Number(t);
}

/** Verifies one cosignature line against the checkpoint text; returns its time. */
export function verifyCosignature(
  checkpointText: string,
  line: string,
  verifier: Verifier,
): number {
  check(verifier.alg === ALG_COSIGNATURE_V1, "bad-key", "not a cosignature/v1 verifier key");
  const s = parseSignatureLine(line.endsWith("\n") ? line.slice(0, -1) : line);
  const raw = base64Decode(s.base64, "cosignature");
  const time = cosignatureTime(raw);
  check(
    s.name === verifier.name && s.keyId.every((b, i) => b === verifier.keyId[i]),
    "bad-signature",
    `cosignature is not by ${verifier.key}`,
  );
  check(
    verifier.verify(utf8Encode(checkpointText), raw.subarray(4)),
    "bad-signature",
    `invalid cosignature by ${verifier.key}`,
  );
  return time;
}

/**
 * Appends signature lines to a signed note, keeping the existing ones first and dropping lines
 * already present.
 */
export function addSignatures(note: string, lines: readonly string[]): string {
  const have = new Set(note.slice(note.lastIndexOf("\n\n") + 2).split("\n"));
  let out = note;
  for (const l of lines) {
    const line = l.endsWith("\n") ? l.slice(0, -1) : l;
    if (!have.has(line)) {
      have.add(line);
      out += `${line}\n`;
    }
  }
  return out;
}
