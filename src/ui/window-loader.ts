// Feeding a session's windows to the verify worker (verify-worker.ts) for the session page: which
// window next, how many at once, and what the worker answered.

import { session } from "./api.ts";
import type { TrustPolicy } from "./trust.ts";
import type { VerifyAnswer, VerifyRequest } from "./verify-worker.ts";
import type { WindowSummary } from "./window-verify.ts";
import type { SessionJoin } from "./windows.ts";

/**
 * Feeds windows to the verify worker: the first alone (so it verifies first), then two at a time
 * (the next one's export streams while the worker verifies the other), the wanted one first, else
 * the next in time. At most two bundle texts are in the worker at once.
 */
export class WindowLoader {
  private readonly worker: Worker;
  /** Requests in flight: request id → window. */
  private readonly inflight = new Map<number, number>();
  private wanted: number | undefined;
  private readonly requested = new Set<number>();
  private seq = 0;
  private stopped = false;

  constructor(
    private readonly id: string,
    private readonly policy: TrustPolicy,
    private readonly join: SessionJoin,
    private readonly done: (k: number, s: WindowSummary | string) => void,
  ) {
    this.worker = new Worker("/ui/assets/verify-worker.js", { name: "tmuxtrail-verify" });
    this.worker.onmessage = (e: MessageEvent<VerifyAnswer>) => this.answered(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      const lost = [...this.inflight.values()];
      this.inflight.clear();
      for (const k of lost) this.done(k, `the verify worker failed: ${e.message || "no message"}`);
      this.pump();
    };
  }

  want(k: number): void {
    if (this.requested.has(k)) return;
    this.wanted = k;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.worker.terminate();
  }

  pump(): void {
    const bound = this.join.loaded === 0 ? 1 : 2;
    while (!this.stopped && this.inflight.size < bound) {
      let k =
        this.wanted !== undefined && !this.requested.has(this.wanted) ? this.wanted : undefined;
      this.wanted = undefined;
      if (k === undefined) {
        k = this.join.windows.findIndex((_, i) => !this.requested.has(i));
        if (k < 0) return;
      }
      this.request(k);
    }
  }

  private request(k: number): void {
    this.requested.add(k);
    const w = this.join.windows[k]!;
    const q = new URLSearchParams({ format: "v3" });
    if (w.since) q.set("since", w.since);
    if (w.until) q.set("until", w.until);
    // After the first window: proven against the same checkpoint (SessionJoin checks it).
    if (this.join.checkpoint) q.set("size", String(this.join.checkpoint.size));
    const req: VerifyRequest = {
      id: ++this.seq,
      path: `/v1/sessions/${this.id}/export?${q}`,
      token: session.token(),
      trust: {
        logKey: this.policy.logKey,
        witnessKeys: this.policy.witnessKeys,
        quorum: this.policy.quorum,
        sessionId: this.id,
      },
      window: w,
    };
    this.inflight.set(req.id, k);
    this.worker.postMessage(req);
  }

  private answered(a: VerifyAnswer): void {
    const k = this.inflight.get(a.id);
    if (k === undefined || this.stopped) return;
    this.inflight.delete(a.id);
    if ("error" in a) {
      if (a.status === 401) {
        // The token was revoked: back to signing in (main.ts routes on popstate).
        session.clear();
        this.stop();
        window.dispatchEvent(new PopStateEvent("popstate"));
        return;
      }
      this.done(k, a.error);
    } else this.done(k, a.summary);
    this.pump();
  }
}
