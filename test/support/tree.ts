// An in-memory log for witness tests: leaves, signed checkpoints at any size, consistency proofs;
// and a witness of it.

import { formatCheckpoint } from "../../src/core/checkpoint.ts";
import { CompactRange } from "../../src/core/compact.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { consistencyProof } from "../../src/core/proof.ts";
import type { Sql } from "../../src/db/sql.ts";
import type { WitnessDeps } from "../../src/witness/add-checkpoint.ts";
import { witnessMetrics } from "../../src/witness/metrics.ts";
import { leafHashes, naiveReader } from "../core/reference.ts";

export class MemoryLog {
  readonly key;
  private readonly leaves;

  constructor(
    readonly origin: string,
    seed = 11,
    salt = "",
  ) {
    this.key = generateKey(origin, new Uint8Array(32).fill(seed));
    this.leaves = leafHashes(300).map((h, i) =>
      salt && i >= 5 ? rfc6962.leaf(new TextEncoder().encode(`${salt}${i}`)) : h,
    );
  }

  root(size: number) {
    const r = CompactRange.empty();
    for (const h of this.leaves.slice(0, size)) r.append(h);
    return r.root();
  }

  /** The log-signed checkpoint note of the first `size` leaves. */
  checkpoint(size: number): string {
    return signNote(formatCheckpoint({ origin: this.origin, size, root: this.root(size) }), [
      parseSignerKey(this.key.signerKey),
    ]);
  }

  proof(from: number, to: number) {
    return consistencyProof(from, to, naiveReader(this.leaves.slice(0, to)));
  }
}

/** A witness of `log` (its state in `sql`) with key `witnessKey`, at a fixed clock. */
export function witnessOf(
  sql: Sql,
  log: MemoryLog,
  witnessKey: { signerKey: string },
): WitnessDeps {
  return {
    sql,
    signer: parseSignerKey(witnessKey.signerKey),
    logs: new Map([
      [log.origin, { origin: log.origin, verifiers: [parseVerifierKey(log.key.verifierKey)] }],
    ]),
    hasher: rfc6962,
    metrics: witnessMetrics(),
    now: () => 1_800_000_000,
  };
}
