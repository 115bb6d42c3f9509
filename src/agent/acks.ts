// What the agent accepts as the log's acknowledgement of a batch (docs/design.md §7.3).
//
// The agent computes each event's leaf itself, with the code the log uses (parseSubmission: the
// RFC 8785 canonical JSON of the event's metadata, whose payload commits to content and salt), and
// its RFC 6962 leaf hash SHA-256(0x00 || leaf). An answer is accepted only when it holds exactly
// one acknowledgement per event sent, in order, each naming that event's leaf hash, at an index
// no other acknowledged leaf holds (in this answer or in an earlier one). A duplicate (the log
// answering an event the agent resent after a crash) names the same leaf hash at its original
// index, and is accepted. Anything else is refused as a whole: nothing is acknowledged, the batch
// stays in the spool.

import { base64Encode } from "../core/encoding.ts";
import { parseSubmission } from "../core/events.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import type { Receipt } from "./receipt-index.ts";

/** The log's answer does not acknowledge the batch that was sent. */
export class RefusedAnswer extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RefusedAnswer";
  }
}

/**
 * base64 of the RFC 6962 leaf hash of the leaf the log forms from this submission. With
 * node:crypto's SHA-256, as the log's: the isomorphic one takes milliseconds over 32 KiB of output.
 */
export function expectedLeafHash(sub: unknown): string {
  return base64Encode(nodeHasher.leaf(parseSubmission(sub, nodeHasher.digest).leaf));
}

/**
 * Checks the log's answer (the response body) to the events whose leaf hashes are `expected`, in
 * the order sent; `known(index)` is the leaf hash already acknowledged at an index, if any.
 * Returns the receipts, or throws RefusedAnswer naming the first thing wrong.
 */
export function checkAnswer(
  body: string,
  expected: readonly string[],
  known: (index: number) => string | undefined,
): Receipt[] {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    throw new RefusedAnswer("the answer is not JSON");
  }
  if (!Array.isArray(answer)) throw new RefusedAnswer("the answer is not a JSON array");
  if (answer.length !== expected.length)
    throw new RefusedAnswer(
      `${answer.length} acknowledgement(s) for ${expected.length} event(s) sent`,
    );
  const out: Receipt[] = [];
  const inAnswer = new Map<number, number>();
  for (const [i, a] of answer.entries()) {
    const { index, leafHash } = (a ?? {}) as { index?: unknown; leafHash?: unknown };
    if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0)
      throw new RefusedAnswer(`acknowledgement ${i} has no valid index`);
    if (leafHash !== expected[i])
      throw new RefusedAnswer(
        `acknowledgement ${i} (index ${index}) names leaf hash ${typeof leafHash === "string" ? leafHash.slice(0, 64) : "none"}, but the event sent has leaf hash ${expected[i]}`,
      );
    const twin = inAnswer.get(index);
    if (twin !== undefined)
      throw new RefusedAnswer(`acknowledgements ${twin} and ${i} both name index ${index}`);
    inAnswer.set(index, i);
    const before = known(index);
    if (before !== undefined && before !== leafHash)
      throw new RefusedAnswer(
        `acknowledgement ${i} names index ${index}, already acknowledged for another leaf (${before})`,
      );
    out.push({ index, leafHash: expected[i]! });
  }
  return out;
}
