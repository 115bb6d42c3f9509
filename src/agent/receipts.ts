// Proving the receipts: every acknowledged (index, leaf hash) must be included in the log's signed
// tree, with proofs rebuilt from the log's hash tiles (never the log's proof API). One round:
//
//   1. fetch the log's checkpoint and open it with the log key and, when witnesses are given, a
//      quorum of their cosignatures (tlog-cosignature/v1). Without the quorum it proves nothing:
//      receipts wait.
//   2. check it extends the checkpoint this agent verified last (<spool>/checkpoint): a smaller
//      size is a rollback, the same size with another root a fork, a larger one needs a
//      consistency proof from the tiles. Only then does it replace <spool>/checkpoint (temporary
//      file, fsync, rename; 0600). A log that shows this host a forked tree is caught here.
//   3. prove each receipt in order (from where the last round stopped, a byte offset into
//      receipts.jsonl kept in receipts.state.json) included in that checkpoint's tree.
//
// What could not be fetched (unreachable log, timeout, HTTP 5xx or 404 of the checkpoint or a
// tile: a LogSourceError) proves nothing either way: the receipts are "not yet proven" and the
// next round tries again. What was fetched and does not verify (a bad signature, a rollback, a
// fork, tiles that do not hash to the signed root, an inclusion proof that fails) is FAILED and
// an alarm. A failed receipt is counted once and never retried into silence.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LogSourceError, openLogSource } from "../client/log-source.ts";
import {
  TileTree,
  verifyConsistencyFromTiles,
  verifyInclusionFromTiles,
} from "../client/verified-reader.ts";
import { type OpenedCheckpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Decode, base64Encode } from "../core/encoding.ts";
import { isTrailError, TrailError } from "../core/errors.ts";
import type { Verifier } from "../core/keys.ts";
import { writeFileAtomic } from "../lib/atomic-file.ts";
import { receiptLines } from "./receipt-index.ts";

export interface ReceiptStatus {
  total: number;
  proven: number;
  failed: number;
  /** Why receipts are not yet proven this round (could not fetch, no witness quorum); else null. */
  waiting: string | null;
  /** The last verification failure (FAILED): kept until an operator clears the spool's state. */
  alarm: string | null;
  /** The last checkpoint this agent verified, kept in <spool>/checkpoint. */
  checkpoint: { size: number; root: string; cosignatures: number } | null;
}

export interface ProverConfig {
  spoolDir: string;
  logUrl: string;
  logKey: Verifier;
  /** Witnesses' cosignature/v1 (0x04) keys, and how many of them must have cosigned. */
  witnesses?: Verifier[];
  quorum?: number;
  /** Per request for the checkpoint and each tile (default 10 s). */
  timeoutMs?: number;
  /** Most receipts proven in one round (default 5,000). */
  maxPerRound?: number;
  /** With no receipt waiting, how often the log's checkpoint is still checked (default 60 s). */
  idleCheckMs?: number;
}

/** receipts.state.json: proven + failed receipts end at byte `offset` of receipts.jsonl. */
interface State {
  proven: number;
  failed: number;
  offset: number;
  alarm: string | null;
}

export class ReceiptProver {
  private readonly file: string;
  private readonly stateFile: string;
  private readonly cpFile: string;
  private readonly state: State;
  /** Well-formed receipts in receipts.jsonl before byte `countedTo`. */
  private counted: number;
  private countedTo: number;
  private stored: OpenedCheckpoint | undefined;
  private waiting: string | null = null;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private lastAlarm = { text: "", repeats: 0 };

  constructor(
    private readonly cfg: ProverConfig,
    private readonly say: (m: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.file = join(cfg.spoolDir, "receipts.jsonl");
    this.stateFile = join(cfg.spoolDir, "receipts.state.json");
    this.cpFile = join(cfg.spoolDir, "checkpoint");
    const old = existsSync(this.stateFile)
      ? (JSON.parse(readFileSync(this.stateFile, "utf8")) as Partial<State>)
      : {};
    this.state = {
      proven: old.proven ?? 0,
      failed: old.failed ?? 0,
      offset: old.offset ?? this.offsetAfter((old.proven ?? 0) + (old.failed ?? 0)),
      alarm: old.alarm ?? null,
    };
    this.counted = this.state.proven + this.state.failed;
    this.countedTo = this.state.offset;
    if (existsSync(this.cpFile)) {
      try {
        // Quorum 0: it held when the checkpoint was kept; the witnesses only count cosignatures.
        this.stored = openCheckpoint(
          readFileSync(this.cpFile, "utf8"),
          [cfg.logKey],
          cfg.witnesses ?? [],
        );
      } catch (e) {
        this.raise(
          `${this.cpFile}, the checkpoint this agent verified before, does not open with the log key: ${(e as Error).message}`,
        );
      }
    }
  }

  status(): ReceiptStatus {
    const cp = this.stored;
    return {
      total: this.counted,
      proven: this.state.proven,
      failed: this.state.failed,
      waiting: this.waiting,
      alarm: this.state.alarm,
      checkpoint: cp
        ? {
            size: cp.checkpoint.size,
            root: base64Encode(cp.checkpoint.root),
            cosignatures: cp.witnesses.length,
          }
        : null,
    };
  }

  /**
   * One round (see the top of the file). What the log did wrong, or could not be fetched, is in
   * the status; only a local error (reading or writing the spool's files) throws.
   */
  async round(): Promise<ReceiptStatus> {
    for (const { receipt, end } of receiptLines(this.file, this.countedTo)) {
      if (receipt) this.counted++;
      this.countedTo = end;
    }
    const done = this.state.proven + this.state.failed;
    if (done >= this.counted && this.now() - this.lastCheck < (this.cfg.idleCheckMs ?? 60_000))
      return this.status();
    this.lastCheck = this.now();
    const source = openLogSource(this.cfg.logUrl, { timeoutMs: this.cfg.timeoutMs ?? 10_000 });
    const tree = new TileTree(source);
    try {
      const cp = await this.verifiedCheckpoint(tree);
      if (!cp) return this.status();
      this.waiting = null;
      let budget = this.cfg.maxPerRound ?? 5000;
      let failedNow = 0;
      for (const { receipt, end } of receiptLines(this.file, this.state.offset)) {
        if (budget-- <= 0 || (receipt && receipt.index >= cp.checkpoint.size)) break;
        if (receipt) {
          try {
            const hash = base64Decode(receipt.leafHash, "leaf hash", 32);
            await verifyInclusionFromTiles(tree, receipt.index, hash, cp.checkpoint);
            this.state.proven++;
          } catch (e) {
            if (!isFailure(e)) {
              this.waiting = `not yet proven: ${(e as Error).message}`;
              break;
            }
            this.state.failed++;
            const why = `the acknowledged event at index ${receipt.index} (leaf hash ${receipt.leafHash}) is not proven included in the log's tree of size ${cp.checkpoint.size}: ${(e as Error).message}`;
            if (++failedNow <= 10) this.raise(why);
            else this.state.alarm = why;
          }
        }
        this.state.offset = end;
      }
      if (failedNow > 10) this.say(`ALARM: ${failedNow - 10} more receipt(s) failed this round`);
    } finally {
      writeFileAtomic(this.stateFile, JSON.stringify(this.state));
    }
    return this.status();
  }

  /**
   * Steps 1 and 2: the log's checkpoint, verified and consistent with the stored one, or
   * undefined when it could not be fetched, lacks the quorum, or failed (status says which).
   */
  private async verifiedCheckpoint(tree: TileTree): Promise<OpenedCheckpoint | undefined> {
    // A stored checkpoint that did not open (raised at start) leaves nothing to extend safely.
    if (!this.stored && existsSync(this.cpFile)) return undefined;
    const old = this.stored;
    let what = "the log's checkpoint";
    try {
      const note = await tree.source.checkpoint();
      const next = openCheckpoint(
        note,
        [this.cfg.logKey],
        this.cfg.witnesses ?? [],
        this.cfg.quorum ?? 0,
        old?.checkpoint.origin,
      );
      what = `the log's checkpoint of size ${next.checkpoint.size}`;
      if (old) {
        await verifyConsistencyFromTiles(tree, old.checkpoint, next.checkpoint);
        if (next.checkpoint.size === old.checkpoint.size) return old;
      }
      writeFileAtomic(this.cpFile, note);
      this.stored = next;
      return next;
    } catch (e) {
      const why = `${what}: ${(e as Error).message}`;
      if (isFailure(e)) {
        this.waiting = null;
        this.raise(
          old
            ? `${why} (checked against the checkpoint of size ${old.checkpoint.size} this agent verified before, in ${this.cpFile}: the log shows this host a tree that does not extend it)`
            : why,
        );
      } else {
        this.waiting = `not yet proven: ${why}`;
      }
      return undefined;
    }
  }

  /** FAILED: kept in the state, logged as an ALARM (a repeat only every 60th time). */
  private raise(why: string): void {
    this.state.alarm = why;
    const a = this.lastAlarm;
    if (a.text === why && ++a.repeats % 60 !== 0) return;
    if (a.text !== why) this.lastAlarm = { text: why, repeats: 0 };
    this.say(`ALARM: ${why}`);
  }

  /** The byte offset just past the first `n` receipts (for a state file written before offsets). */
  private offsetAfter(n: number): number {
    let offset = 0;
    let seen = 0;
    if (n === 0) return 0;
    for (const { receipt, end } of receiptLines(this.file)) {
      offset = end;
      if (receipt && ++seen >= n) break;
    }
    return offset;
  }
}

/**
 * Fetched and does not verify (TrailError: a bad signature, a malformed note or tile, a proof
 * mismatch), as opposed to could not fetch (LogSourceError) or not enough cosignatures yet.
 */
function isFailure(e: unknown): boolean {
  if (e instanceof LogSourceError) return false;
  return e instanceof TrailError && !isTrailError(e, "quorum");
}
