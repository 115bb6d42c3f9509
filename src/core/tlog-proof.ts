// c2sp.org/tlog-proof@v1: an offline-verifiable proof that an entry is in a log, observed by
// witnesses. Text:
//
//   c2sp.org/tlog-proof@v1
//   [extra <base64>]            optional opaque, unauthenticated data
//   index <decimal>             zero-based, no leading zeros
//   <base64 hash>               the inclusion proof, leaf's sibling first, one per line
//   <empty line>
//   <signed checkpoint note>    verbatim, with the log signature and any cosignatures
//
// Parsing is strict (format(parse(x)) === x). Verification opens the checkpoint with the trusted
// log keys and a k-of-n witness quorum, then checks the inclusion proof against its root.

import { type Checkpoint, type OpenedCheckpoint, openCheckpoint } from "./checkpoint.ts";
import { base64Decode, base64Encode, parseDecimal } from "./encoding.ts";
import { check } from "./errors.ts";
import { type Hash, type Hasher, rfc6962 } from "./hash.ts";
import type { Verifier } from "./keys.ts";
import { splitNote } from "./note.ts";
import { verifyInclusion } from "./proof-verify.ts";

const HEADER = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  extra?: Uint8Array;
  index: number;
  proof: Hash[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

export function formatTlogProof(p: TlogProof): string {
  check(
    Number.isSafeInteger(p.index) && p.index >= 0,
    "malformed",
    "index is not a safe non-negative integer",
  );
  splitNote(p.checkpoint);
  const lines = [HEADER];
  if (p.extra !== undefined) lines.push(`extra ${base64Encode(p.extra)}`);
  lines.push(`index ${p.index}`);
  for (const h of p.proof) {
    check(h.length === 32, "bad-hash", "proof hashes are 32 bytes");
    lines.push(base64Encode(h));
  }
  return `${lines.join("\n")}\n\n${p.checkpoint}`;
}

export function parseTlogProof(text: string): TlogProof {
  check(
    typeof text === "string" && text.length <= 1_100_000,
    "malformed",
    "tlog-proof is not a string of at most 1.1 MB",
  );
  const blank = text.indexOf("\n\n");
  check(blank >= 0, "malformed", "tlog-proof has no blank line before the checkpoint");
  const head = text.slice(0, blank).split("\n");
  const checkpoint = text.slice(blank + 2);
  check(head[0] === HEADER, "malformed", `tlog-proof does not start with ${HEADER}`);
  let i = 1;
  let extra: Uint8Array | undefined;
  if (head[i]?.startsWith("extra ")) {
    extra = base64Decode(head[i]!.slice(6), "extra");
    i++;
  }
  const idx = head[i] ?? "";
  check(idx.startsWith("index "), "malformed", "tlog-proof has no index line");
  const index = parseDecimal(idx.slice(6), "index");
  const proof = head.slice(i + 1).map((l, j) => base64Decode(l, `proof hash ${j}`, 32));
  check(proof.length <= 63, "malformed", "tlog-proof has more than 63 proof hashes");
  splitNote(checkpoint);
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint };
}

/**
 * Verifies a tlog-proof for `leafHash`: the checkpoint is signed by a log key and cosigned by at
 * least `quorum` of the witness keys, and the inclusion proof leads to its root.
 */
export function verifyTlogProof(
  text: string,
  leafHash: Hash,
  logVerifiers: readonly Verifier[],
  witnessVerifiers: readonly Verifier[] = [],
  quorum = 0,
  hasher: Hasher = rfc6962,
): { proof: TlogProof; checkpoint: Checkpoint; opened: OpenedCheckpoint } {
  const proof = parseTlogProof(text);
  const opened = openCheckpoint(proof.checkpoint, logVerifiers, witnessVerifiers, quorum);
  const cp = opened.checkpoint;
  verifyInclusion(proof.index, cp.size, leafHash, proof.proof, cp.root, hasher);
  return { proof, checkpoint: cp, opened };
}
