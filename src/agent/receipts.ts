// Proving the receipts: every acknowledged (index, leaf hash) must be included in the log's
// signed tree. Checked against the newest checkpoint, with proofs rebuilt from the log's hash
// tiles (never the log's proof API); a receipt that fails is an alarm.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchCheckpoint, httpTileFetcher } from "../client/tlog-http.ts";
import { openCheckpoint } from "../log/checkpoint.ts";
import { base64Decode } from "../log/encoding.ts";
import type { Verifier } from "../log/keys.ts";
import { inclusionProof, verifyInclusion } from "../log/proof.ts";
import { tileNodeReader } from "../log/tile-reader.ts";

export interface ReceiptStatus {
  total: number;
  proven: number;
  failed: number;
}

export async function proveReceipts(
  spoolDir: string,
  logUrl: string,
  logKey: Verifier,
  alarm: (m: string) => void,
): Promise<ReceiptStatus> {
  const file = join(spoolDir, "receipts.jsonl");
  const stateFile = join(spoolDir, "receipts.state.json");
  const state = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, "utf8")) as { proven: number; failed: number })
    : { proven: 0, failed: 0 };
  const receipts = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { index: number; leafHash: string })
    : [];
  if (state.proven + state.failed >= receipts.length) return { total: receipts.length, ...state };
  const cp = openCheckpoint(await fetchCheckpoint(logUrl), [logKey]).checkpoint;
  const read = tileNodeReader(cp.size, httpTileFetcher(logUrl));
  for (let i = state.proven + state.failed; i < receipts.length; i++) {
    const r = receipts[i]!;
    if (r.index >= cp.size) break; // not yet in a checkpoint
    try {
      const proof = await inclusionProof(r.index, cp.size, read);
      verifyInclusion(r.index, cp.size, base64Decode(r.leafHash, "leaf hash", 32), proof, cp.root);
      state.proven++;
    } catch (e) {
      state.failed++;
      alarm(
        `ALARM: acknowledged event at index ${r.index} is not in the log's tree of size ${cp.size}: ${(e as Error).message}`,
      );
    }
  }
  writeFileSync(stateFile, JSON.stringify(state));
  return { total: receipts.length, ...state };
}
