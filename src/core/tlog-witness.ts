// C2SP tlog-witness add-checkpoint request bodies (docs/design.md §6.3):
//
//   old <size>\n
//   <base64 consistency proof hash>\n      (0 to 63 lines)
//   \n
//   <signed checkpoint note>
//
// at most 16 KiB. Parsing is strict (format(parse(x)) === x); what the witness then checks, in
// order, is src/witness/add-checkpoint.ts.

import { base64Decode, base64Encode, parseDecimal } from "./encoding.ts";
import { check } from "./errors.ts";
import type { Hash } from "./hash.ts";

export const MAX_ADD_CHECKPOINT_BODY = 16 * 1024;
export const MAX_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  old: number;
  proof: Hash[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

export function formatAddCheckpoint(r: AddCheckpointRequest): string {
  check(r.proof.length <= MAX_PROOF_LINES, "malformed", `at most ${MAX_PROOF_LINES} proof lines`);
  return `old ${r.old}\n${r.proof.map((h) => `${base64Encode(h)}\n`).join("")}\n${r.checkpoint}`;
}

export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  check(typeof body === "string", "malformed", "body is not text");
  check(body.length <= MAX_ADD_CHECKPOINT_BODY, "malformed", "body larger than 16 KiB");
  const blank = body.indexOf("\n\n");
  check(blank >= 0, "malformed", "no blank line before the checkpoint");
  const head = body.slice(0, blank).split("\n");
  const first = head[0]!;
  check(first.startsWith("old "), "malformed", 'the body must start with "old <size>"');
  const old = parseDecimal(first.slice(4), "old");
  const lines = head.slice(1);
  check(lines.length <= MAX_PROOF_LINES, "malformed", `more than ${MAX_PROOF_LINES} proof lines`);
  const proof = lines.map((l, i) => base64Decode(l, `proof line ${i + 1}`, 32));
  const checkpoint = body.slice(blank + 2);
  check(checkpoint.length > 0, "malformed", "no checkpoint after the blank line");
  return { old, proof, checkpoint };
}
