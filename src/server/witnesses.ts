// The log's side of C2SP tlog-witness: after each checkpoint, ask every configured witness to
// cosign it, in parallel, each with a consistency proof from the size that witness last cosigned.
// A 409 tells us the witness's size (resync and retry); 429, 5xx and network errors back off;
// 403, 404 and 422 are alarms (logged, counted in /metrics): a witness that refuses a correctly
// signed, consistent checkpoint means misconfiguration or a fork. Cosignatures are verified with
// the witness's key before they are stored and served on /checkpoint.

import { httpRead, READ_CAPS, type ReadAnswer } from "../client/http-read.ts";
import { verifyCosignature } from "../core/cosignature.ts";
import type { Hasher } from "../core/hash.ts";
import { cosignatureVerifierKey, parseVerifierKey, type Verifier } from "../core/keys.ts";
import { splitNote } from "../core/note.ts";
import { formatAddCheckpoint } from "../core/tlog-witness.ts";
import { insertCosignature, latestCheckpoint, type StoredCheckpoint } from "../db/checkpoints.ts";
import type { Sql } from "../db/sql.ts";
import type { Counter, Gauge } from "../lib/metrics.ts";
import { proveConsistency } from "./tree-reader.ts";

export interface WitnessTarget {
  key: Verifier;
  url: string;
  /** The size this witness last cosigned, as far as we know (0 until it tells us). */
  size: number;
  failures: number;
  retryAt: number;
  busy: boolean;
}

/** `--witness <vkey>@<url>`; the key may be the 0x04 or the 0x01 form. */
export function parseWitnessSpec(spec: string): { key: Verifier; url: string } {
  const at = spec.search(/@https?:\/\//);
  if (at <= 0) throw new Error(`--witness ${spec}: expected <verifier key>@<url>`);
  return {
    key: parseVerifierKey(cosignatureVerifierKey(spec.slice(0, at))),
    url: spec.slice(at + 1).replace(/\/+$/, ""),
  };
}

export interface WitnessPoolOptions {
  hasher: Hasher;
  say: (m: string) => void;
  alarms: Counter;
  witnessSize: Gauge;
  /** Called when a cosignature was stored (waiters for a quorum re-check). */
  onCosigned: () => void;
}

export class WitnessPool {
  readonly targets: WitnessTarget[];

  constructor(
    private readonly sql: Sql,
    specs: { key: Verifier; url: string }[],
    private readonly opts: WitnessPoolOptions,
  ) {
    this.targets = specs.map((s) => ({ ...s, size: 0, failures: 0, retryAt: 0, busy: false }));
    for (const t of this.targets) opts.witnessSize.set(() => t.size, { witness: t.key.name });
  }

  /** Submits the newest checkpoint to every witness that has not cosigned it and is not backing off. */
  async catchUp(): Promise<void> {
    if (this.targets.length === 0) return;
    const cp = await latestCheckpoint(this.sql);
    if (!cp) return;
    const now = Date.now();
    await Promise.all(
      this.targets
        .filter((t) => !t.busy && t.size < cp.size && t.retryAt <= now)
        .map((t) => this.submit(t, cp)),
    );
  }

  private async submit(t: WitnessTarget, cp: StoredCheckpoint): Promise<void> {
    t.busy = true;
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const proof =
          t.size === 0 ? [] : await proveConsistency(this.sql, t.size, cp.size, this.opts.hasher);
        const body = formatAddCheckpoint({ old: t.size, proof, checkpoint: cp.note });
        let res: ReadAnswer;
        try {
          // Capped and timed, body included (client/http-read.ts): a witness answers a note.
          res = await httpRead(`${t.url}/add-checkpoint`, {
            method: "POST",
            body,
            maxBytes: READ_CAPS.checkpoint,
            timeoutMs: 10_000,
          });
        } catch (e) {
          this.backoff(t, `unreachable: ${(e as Error).message}`);
          return;
        }
        const text = new TextDecoder().decode(res.body);
        if (res.status === 200) {
          await this.store(t, cp, text);
          t.size = cp.size;
          t.failures = 0;
          return;
        }
        if (res.status === 409 && /^\d+\n$/.test(text)) {
          const theirs = Number(text.trim());
          const resync = theirs !== t.size && theirs <= cp.size;
          t.size = theirs;
          if (resync) continue; // retry once from the witness's own size
          if (theirs > cp.size) return; // it cosigned a newer checkpoint of ours already
        }
        if (res.status === 429 || res.status >= 500 || res.status === 409) {
          this.backoff(t, `HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
          return;
        }
        // 400, 403, 404, 422: the witness refuses a checkpoint we signed. An alarm.
        this.opts.alarms.inc({ witness: t.key.name, status: String(res.status) });
        this.opts.say(
          `ALARM: witness ${t.key.name} (${t.url}) refused checkpoint ${cp.size}: HTTP ${res.status} ${text.trim().slice(0, 300)}`,
        );
        this.backoff(t, `HTTP ${res.status}`);
        return;
      }
    } catch (e) {
      this.backoff(t, (e as Error).message);
    } finally {
      t.busy = false;
    }
  }

  private backoff(t: WitnessTarget, why: string): void {
    t.failures++;
    const delay = Math.min(60_000, 500 * 2 ** Math.min(t.failures, 7));
    t.retryAt = Date.now() + delay;
    if (t.failures <= 3 || t.failures % 10 === 0) {
      this.opts.say(`witness ${t.key.name}: ${why}; retrying in ${Math.round(delay / 1000)} s`);
    }
  }

  /** Verifies each returned cosignature line with the witness's key and stores the valid ones. */
  private async store(t: WitnessTarget, cp: StoredCheckpoint, body: string): Promise<void> {
    const text = splitNote(cp.note).text;
    let stored = 0;
    for (const line of body.split("\n").filter(Boolean)) {
      let time: number;
      try {
        time = verifyCosignature(text, line, t.key);
      } catch {
        continue; // a cosignature by another key of that witness, or junk: ignored
      }
      await insertCosignature(this.sql, {
        size: cp.size,
        witness: t.key.key,
        line: `${line}\n`,
        time,
      });
      stored++;
    }
    if (stored === 0) {
      this.opts.alarms.inc({ witness: t.key.name, status: "bad-cosignature" });
      this.opts.say(
        `ALARM: witness ${t.key.name} answered 200 without a valid cosignature for ${cp.size}`,
      );
      return;
    }
    this.opts.onCosigned();
  }
}
