// C2SP tlog-checkpoint: the signed note body
//
//   <origin>\n<decimal size>\n<base64 root hash>\n[extension lines]
//
// Parsing is strict: a non-empty origin, a canonical decimal size (no sign, no leading zeros, at
// most 2^53-1), a root that is strict base64 of exactly 32 bytes, and non-empty extension lines.
// The log itself never writes extension lines. openCheckpoint verifies the log's signature and a
// k-of-n quorum of witness cosignatures (cosignature/v1) in one pass over the note.

import { base64Decode, base64Encode, parseDecimal } from "./encoding.ts";
import { check, show, TrailError } from "./errors.ts";
import type { Hash } from "./hash.ts";
import { ALG_COSIGNATURE_V1, ALG_ED25519, type Verifier } from "./keys.ts";
import { openNote, signatureLine } from "./note.ts";

/**
 * The largest tree a verifier accepts a signed checkpoint for: 2^40 leaves (about 1.1e12; a year
 * of a million events a minute is 5.3e11). Checked in openCheckpoint, after the signature and
 * before any tile is read, because a verifier's work follows the size: `mirror` and `verify
 * --all-tiles` walk size/256 tiles, `audit --log` size/256 bundles. Far below 2^53, it also keeps
 * every index in the tile and proof arithmetic (node index · 2^level, at most 2·size) an exact
 * integer. A log signing more is refused ("bad-size", exit 1), as the 2^53−1 checkpoint was.
 * Parsing stays per the spec (any uint up to 2^53−1): the bound is the verifier's policy.
 */
export const MAX_TREE_SIZE = 2 ** 40;

export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
  extensions?: string[];
}

export function formatCheckpoint(c: Checkpoint): string {
  check(
    typeof c.origin === "string" && c.origin.length > 0 && !/[\u0000-\u001f]/.test(c.origin),
    "malformed",
    "bad origin",
  );
  check(Number.isSafeInteger(c.size) && c.size >= 0, "malformed", `bad size ${show(c.size)}`);
  check(c.root instanceof Uint8Array && c.root.length === 32, "malformed", "root is not 32 bytes");
  return `${c.origin}\n${c.size}\n${base64Encode(c.root)}\n`;
}

export function parseCheckpoint(text: string): Checkpoint {
  check(
    typeof text === "string" && text.endsWith("\n"),
    "malformed",
    "checkpoint does not end in a newline",
  );
  const lines = text.slice(0, -1).split("\n");
  check(lines.length >= 3, "malformed", "checkpoint has fewer than three lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [
    string,
    string,
    string,
    ...string[],
  ];
  check(origin.length > 0, "malformed", "checkpoint origin is empty");
  check(
    !/[\u0000-\u001f]/.test(origin),
    "malformed",
    "checkpoint origin contains a control character",
  );
  const size = parseDecimal(sizeText, "checkpoint size");
  const root = base64Decode(rootText, "checkpoint root", 32);
  for (const e of extensions) check(e.length > 0, "malformed", "empty checkpoint extension line");
  return extensions.length ? { origin, size, root, extensions } : { origin, size, root };
}

export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  /** The checkpoint body (the signed text). */
  text: string;
  logSigners: string[];
  /** The log's signature lines that verified ("— name base64\n"), in note order, nothing else. */
  logSignatureLines: string[];
  witnesses: { name: string; key: string; time: number }[];
}

/**
 * Opens a signed checkpoint: at least one signature by a log key, then at least `quorum`
 * distinct witnesses among `witnessVerifiers` (0x04 cosignature keys) that cosigned it. Any
 * trusted key's bad signature rejects the note. `origin`, when given, must match.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  logVerifiers: readonly Verifier[],
  witnessVerifiers: readonly Verifier[] = [],
  quorum = 0,
  origin?: string,
): OpenedCheckpoint {
  check(logVerifiers.length > 0, "bad-key", "no log key to verify the checkpoint with");
  // A cosignature key among the log's keys would make a witness's cosignature the log's signature.
  for (const v of logVerifiers) {
    check(
      v.alg === ALG_ED25519,
      "bad-key",
      `${v.name} (key ${v.key}) is a witness cosignature key (algorithm 0x04), not a log key (0x01)`,
    );
  }
  for (const w of witnessVerifiers) {
    check(
      w.alg === ALG_COSIGNATURE_V1,
      "bad-key",
      `witness key ${w.key} is not a cosignature/v1 key`,
    );
  }
  const opened = openNote(note, [...logVerifiers, ...witnessVerifiers]);
  const logSigned = opened.verified.filter((s) => logVerifiers.includes(s.verifier));
  const logSigners = logSigned.map((s) => s.verifier.key);
  if (logSigners.length === 0)
    throw new TrailError("unverified", "checkpoint is not signed by the log key");
  const checkpoint = parseCheckpoint(opened.text);
  check(
    checkpoint.size <= MAX_TREE_SIZE,
    "bad-size",
    `the checkpoint signed by the log claims ${checkpoint.size} leaves, beyond the ${MAX_TREE_SIZE} (2^40) a verifier accepts: refused`,
  );
  if (origin !== undefined) {
    check(
      checkpoint.origin === origin,
      "malformed",
      `checkpoint origin ${show(checkpoint.origin)} is not ${show(origin)}`,
    );
  }
  const witnesses = opened.verified
    .filter((s) => witnessVerifiers.includes(s.verifier))
    .map((s) => ({
      name: s.name,
      key: s.verifier.key,
      time: Number(new DataView(base64Decode(s.base64).buffer, 4, 8).getBigUint64(0)),
    }));
  const distinct = new Set(witnesses.map((w) => w.key)).size;
  if (distinct < quorum) {
    throw new TrailError(
      "quorum",
      `checkpoint has ${distinct} valid witness cosignature(s), the quorum is ${quorum}`,
    );
  }
  const logSignatureLines = logSigned.map((s) =>
    signatureLine(s.name, s.keyId, base64Decode(s.base64).subarray(4)),
  );
  return { checkpoint, text: opened.text, logSigners, logSignatureLines, witnesses };
}
