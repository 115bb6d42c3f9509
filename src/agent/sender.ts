// Sending the spool to the log: batches of at most 1000 events / 3 MiB to POST /v1/events with
// the host's submit key; a batch leaves the spool only when the log acknowledged it, and an answer
// counts as an acknowledgement only when acks.ts accepts it (one per event, in order, each naming
// the leaf hash the agent computed, at an index no other acknowledged leaf holds). Failures back
// off (1 s doubling to 60 s); the log's dedup makes every retry safe. A refused answer backs off
// the same way (the log may be fixed) and raises an alarm; its reason is the sender's `failed`.
// The accepted (index, leaf hash) pairs are kept as receipts (Spool.ack, ReceiptIndex).
//
// A key bound to another host (403 wrong-host, or GET /v1/keys/self naming another host when the
// start-up check could not reach the log) is FAILED too, with the fix in `failed`, an ALARM line,
// the events kept in the spool and a retry every 60 s (the key could be rebound on the log).

import { join } from "node:path";
import { httpRead, READ_CAPS, type ReadAnswer } from "../client/http-read.ts";
import { UsageError } from "../core/errors.ts";
import { checkAnswer, expectedLeafHash, RefusedAnswer } from "./acks.ts";
import { checkKeyHost } from "./key-host.ts";
import { ReceiptIndex } from "./receipt-index.ts";
import type { Spool } from "./spool.ts";

export interface SenderStatus {
  connected: boolean;
  lastAckedIndex: number | null;
  lastError: string | null;
  failures: number;
  /** Why the log's last answer was refused (FAILED); null once an answer is accepted. */
  failed: string | null;
  /** Answers refused since the agent started. */
  refused: number;
  /** The host the submit key is bound to, when it is not the host the agent records as. */
  wrongHost: string | null;
}

/** How long a key bound to another host waits between tries (it could be rebound on the log). */
export const WRONG_HOST_RETRY_MS = 60_000;

export class Sender {
  readonly status: SenderStatus = {
    connected: false,
    lastAckedIndex: null,
    lastError: null,
    failures: 0,
    failed: null,
    refused: 0,
    wrongHost: null,
  };
  readonly receipts: ReceiptIndex;
  private retryAt = 0;

  constructor(
    private readonly spool: Spool,
    private readonly logUrl: string,
    private readonly token: string,
    private readonly say: (m: string) => void,
    /** The host the events are recorded as, and whether the key's host was checked at start. */
    private readonly host?: string,
    private keyHostChecked = true,
  ) {
    this.receipts = new ReceiptIndex(join(spool.dir, "receipts.jsonl"));
  }

  /** Sends what is pending, batch after batch, until the spool is empty or a send fails. */
  async drain(now = Date.now()): Promise<void> {
    if (now < this.retryAt) return;
    for (;;) {
      const { lines, bytes } = this.spool.pending(1000, 3 * 1024 * 1024);
      if (lines.length === 0) return;
      // The start-up check of the key's host could not reach the log: ask before the first send.
      if (!this.keyHostChecked && this.host !== undefined) {
        try {
          const r = await checkKeyHost(this.logUrl, this.token, this.host);
          // A log that answered but cannot tell (an older one): its 403 wrong-host tells instead.
          if (r.checked || !r.why.startsWith("log unreachable")) this.keyHostChecked = true;
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          const bound = /bound to host "([^"]*)"/.exec(e.message)?.[1] ?? "?";
          this.wrongHostFailure(bound);
          return;
        }
      }
      let expected: string[];
      try {
        expected = lines.map((l) => expectedLeafHash(l.sub));
      } catch (e) {
        this.fail(`an event in the spool is not a valid event: ${(e as Error).message}`);
        return;
      }
      let res: ReadAnswer;
      let text: string;
      try {
        // Capped and timed, body included (client/http-read.ts).
        res = await httpRead(`${this.logUrl.replace(/\/+$/, "")}/v1/events`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
          body: JSON.stringify(lines.map((l) => l.sub)),
          maxBytes: READ_CAPS.json,
          timeoutMs: 30_000,
        });
        text = new TextDecoder().decode(res.body);
      } catch (e) {
        this.fail(`log unreachable: ${(e as Error).message}`);
        return;
      }
      const err = res.status === 403 ? errorOf(text) : undefined;
      if (err?.code === "wrong-host") {
        const bound = /bound to "([^"]*)"/.exec(err.message)?.[1] ?? "?";
        this.wrongHostFailure(bound);
        return;
      }
      if (res.status !== 200) {
        if (res.status === 409)
          this.say(
            `CONFLICT: the log holds a different event for a stream position we send: ${text}`,
          );
        this.fail(`log answered ${res.status}: ${text.slice(0, 300)}`);
        return;
      }
      let acks: ReturnType<typeof checkAnswer>;
      try {
        acks = checkAnswer(text, expected, (i) => this.receipts.get(i));
      } catch (e) {
        if (!(e instanceof RefusedAnswer)) throw e;
        this.refuse(lines.length, e.message);
        return;
      }
      this.spool.ack(lines.length, bytes, acks);
      this.receipts.add(acks);
      this.status.connected = true;
      this.status.failures = 0;
      this.status.lastError = null;
      this.status.failed = null;
      this.status.wrongHost = null;
      this.keyHostChecked = true;
      for (const a of acks)
        this.status.lastAckedIndex = Math.max(this.status.lastAckedIndex ?? -1, a.index);
    }
  }

  /**
   * The log refuses every event of this host for this key: FAILED with the fix, an ALARM line,
   * nothing leaves the spool, retried every WRONG_HOST_RETRY_MS.
   */
  private wrongHostFailure(bound: string): void {
    const host = this.host ?? "?";
    const unsent = this.spool.state.lines - this.spool.state.acked;
    const why =
      `the log refuses this host's events (403 wrong-host): the submit key is bound to host "${bound}" ` +
      `but the agent records as host "${host}"; fix: give the agent a key bound to "${host}" ` +
      `(tmuxtrail keys create --scope submit --host ${JSON.stringify(host)}), or stop it, move the spool ` +
      `aside (its events are recorded as "${host}") and run it with --host ${JSON.stringify(bound)}`;
    this.status.connected = false;
    this.status.failures++;
    this.status.lastError = why;
    this.status.failed = why;
    this.status.wrongHost = bound;
    this.retryAt = Date.now() + WRONG_HOST_RETRY_MS;
    this.say(
      `ALARM: ${why}; ${unsent} event(s) stay in the spool, retrying in ${WRONG_HOST_RETRY_MS / 1000} s`,
    );
  }

  /** An answer that does not acknowledge what was sent: nothing leaves the spool; an alarm. */
  private refuse(events: number, why: string): void {
    this.status.refused++;
    this.status.failed = why;
    const delay = this.fail(`FAILED: the log's answer was refused: ${why}`, false);
    this.say(
      `ALARM: the log's answer to ${events} event(s) was refused: ${why}; retrying in ${Math.round(delay / 1000)} s (the events stay in the spool)`,
    );
  }

  /** Backs off; returns the delay. */
  private fail(why: string, say = true): number {
    this.status.connected = false;
    this.status.failures++;
    this.status.lastError = why;
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.status.failures - 1, 6));
    this.retryAt = Date.now() + delay;
    if (say && (this.status.failures <= 3 || this.status.failures % 20 === 0)) {
      this.say(
        `sending: ${why}; retrying in ${Math.round(delay / 1000)} s (events stay in the spool)`,
      );
    }
    return delay;
  }
}

/** The `error` of a JSON error body (`{error: {code, message}}`), if it has one. */
function errorOf(text: string): { code: string; message: string } | undefined {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return typeof e?.code === "string"
      ? { code: e.code, message: typeof e.message === "string" ? e.message : "" }
      : undefined;
  } catch {
    return undefined;
  }
}
