// Sending the spool to the log: batches of at most 1000 events / 4 MiB to POST /v1/events with
// the host's submit key; a batch leaves the spool only when the log acknowledged it. Failures back
// off (1 s doubling to 60 s); the log's dedup makes every retry safe. The acknowledged
// (index, leaf hash) pairs are kept as receipts.

import type { Spool } from "./spool.ts";

export interface SenderStatus {
  connected: boolean;
  lastAckedIndex: number | null;
  lastError: string | null;
  failures: number;
}

export class Sender {
  readonly status: SenderStatus = {
    connected: false,
    lastAckedIndex: null,
    lastError: null,
    failures: 0,
  };
  private retryAt = 0;

  constructor(
    private readonly spool: Spool,
    private readonly logUrl: string,
    private readonly token: string,
    private readonly log: (m: string) => void,
  ) {}

  /** Sends what is pending, batch after batch, until the spool is empty or a send fails. */
  async drain(now = Date.now()): Promise<void> {
    if (now < this.retryAt) return;
    for (;;) {
      const { lines, bytes } = this.spool.pending(1000, 3 * 1024 * 1024);
      if (lines.length === 0) return;
      let res: Response;
      try {
        res = await fetch(`${this.logUrl.replace(/\/+$/, "")}/v1/events`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
          body: JSON.stringify(lines.map((l) => l.sub)),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (e) {
        return this.fail(`log unreachable: ${(e as Error).message}`);
      }
      const text = await res.text();
      if (res.status !== 200) {
        if (res.status === 409)
          this.log(
            `CONFLICT: the log holds a different event for a stream position we send: ${text}`,
          );
        return this.fail(`log answered ${res.status}: ${text.slice(0, 300)}`);
      }
      const acks = JSON.parse(text) as { index: number; leafHash: string }[];
      this.spool.ack(
        lines.length,
        bytes,
        acks.map((a) => ({ index: a.index, leafHash: a.leafHash })),
      );
      this.status.connected = true;
      this.status.failures = 0;
      this.status.lastError = null;
      this.status.lastAckedIndex = Math.max(
        this.status.lastAckedIndex ?? -1,
        ...acks.map((a) => a.index),
      );
    }
  }

  private fail(why: string): void {
    this.status.connected = false;
    this.status.failures++;
    this.status.lastError = why;
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.status.failures - 1, 6));
    this.retryAt = Date.now() + delay;
    if (this.status.failures <= 3 || this.status.failures % 20 === 0) {
      this.log(
        `sending: ${why}; retrying in ${Math.round(delay / 1000)} s (events stay in the spool)`,
      );
    }
  }
}
