// Denied requests (401/403) are evidence too: someone probing keys or scopes. Each one is counted
// in /metrics by status, key and client address (key "-" when no valid key was presented), and a
// burst from one address (`threshold` denials within `windowMs`) is posted once per window to the
// `serve --alert-url` webhook, so a security team hears of it while it happens.
//
// Memory stays bounded whatever arrives: the first 1000 addresses get a series of their own in
// /metrics and later ones share addr="other" (an IPv6 network hands out addresses without end),
// and burst windows are pruned past 10,000 addresses.

import type { Counter } from "../lib/metrics.ts";
import { postWebhook } from "../lib/webhook.ts";

export interface DenialOptions {
  alertUrl?: string;
  threshold?: number;
  windowMs?: number;
  origin: string;
  say: (msg: string) => void;
}

export interface Denial {
  status: 401 | 403;
  key: string;
  addr: string;
  path: string;
}

/** Client addresses with a series of their own in tmuxtrail_denied_total. */
const MAX_ADDR_SERIES = 1000;

export class Denials {
  private readonly windows = new Map<string, { start: number; count: number; alerted: boolean }>();
  private readonly labelled = new Set<string>();

  constructor(
    private readonly counter: Counter,
    private readonly opts: DenialOptions,
  ) {}

  record(d: Denial, now = Date.now()): void {
    if (!this.labelled.has(d.addr) && this.labelled.size < MAX_ADDR_SERIES)
      this.labelled.add(d.addr);
    const addr = this.labelled.has(d.addr) ? d.addr : "other";
    this.counter.inc({ status: String(d.status), key: d.key, addr });
    const windowMs = this.opts.windowMs ?? 60_000;
    const threshold = this.opts.threshold ?? 20;
    let w = this.windows.get(d.addr);
    if (!w || now - w.start > windowMs) {
      w = { start: now, count: 0, alerted: false };
      this.windows.set(d.addr, w);
      if (this.windows.size > 10_000) this.prune(now, windowMs);
    }
    w.count++;
    if (w.count >= threshold && !w.alerted) {
      w.alerted = true;
      this.alert(d, w.count, windowMs);
    }
  }

  private prune(now: number, windowMs: number): void {
    for (const [k, w] of this.windows) if (now - w.start > windowMs) this.windows.delete(k);
  }

  private alert(d: Denial, count: number, windowMs: number): void {
    const body = {
      kind: "denied-burst",
      origin: this.opts.origin,
      addr: d.addr,
      key: d.key,
      status: d.status,
      path: d.path,
      count,
      windowSeconds: windowMs / 1000,
      time: new Date().toISOString(),
    };
    this.opts.say(
      `ALERT: ${count} denied requests from ${d.addr} within ${windowMs / 1000}s (last: ${d.status} ${d.path}, key ${d.key})`,
    );
    if (this.opts.alertUrl) void postWebhook(this.opts.alertUrl, body, this.opts.say);
  }
}
