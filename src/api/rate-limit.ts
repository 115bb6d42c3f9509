// Per-key token buckets: `serve --rate-limit N` allows N requests per second per key with a burst
// of N. Off unless configured (DESIGN section 4). Over the limit: 429 with Retry-After.

import { ApiError } from "./errors.ts";

export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(key: string): void {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.perSecond, at: t };
    b.tokens = Math.min(this.perSecond, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      const wait = Math.ceil((1 - b.tokens) / this.perSecond);
      throw new ApiError(
        429,
        "rate-limited",
        `rate limit of ${this.perSecond} requests/s exceeded`,
        {
          "Retry-After": String(Math.max(1, wait)),
        },
      );
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
  }
}
