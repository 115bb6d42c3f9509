// Token buckets, one per key, bounded in memory. Three limits use them (docs/design.md §3.1), each
// answering 429 with Retry-After beyond it:
//   - `serve --rate-limit N`: N requests per second per API key (burst N); off unless set.
//   - `serve --auth-failure-limit N`: N failed authentications (unknown or revoked tokens) per
//     minute per client address (burst N), default 30: each costs a database lookup, and a weak
//     admin token must not be guessable at the network's speed. A lookup takes a token before it
//     runs (so concurrent guesses are bounded too) and gives it back when the key is valid; an
//     address with none left is answered 429 before any token it sends is looked at (http.ts).
//   - `serve --search-rate-limit N`: N session searches by command text per minute per key
//     (burst N), default 30: each answers a question about content (and appends an access event).
//
// A bucket that has refilled is the same as none, so the map keeps only the keys that spent
// something lately: past `maxKeys` entries the full ones are dropped, then the least recently used.

import { ApiError } from "./errors.ts";

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private buckets = new Map<string, Bucket>();

  /**
   * `rate` tokens per `perMs` milliseconds, at most `burst` saved up; `what` names them in the
   * 429's message ("requests", "failed authentications").
   */
  constructor(
    private readonly rate: number,
    private readonly opts: {
      perMs?: number;
      burst?: number;
      what?: string;
      maxKeys?: number;
      now?: () => number;
    } = {},
  ) {}

  private get burst() {
    return this.opts.burst ?? this.rate;
  }

  private refilled(key: string): Bucket {
    const t = this.opts.now ? this.opts.now() : performance.now();
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.burst, at: t };
    const perMs = this.opts.perMs ?? 1000;
    return { tokens: Math.min(this.burst, b.tokens + ((t - b.at) / perMs) * this.rate), at: t };
  }

  private store(key: string, b: Bucket): void {
    this.buckets.delete(key); // re-inserted last: the map's order is least recently used first
    if (b.tokens >= this.burst) return;
    this.buckets.set(key, b);
    if (this.buckets.size > (this.opts.maxKeys ?? 10_000)) this.prune();
  }

  private prune(): void {
    for (const key of [...this.buckets.keys()]) {
      if (this.refilled(key).tokens >= this.burst) this.buckets.delete(key);
    }
    const over = this.buckets.size - (this.opts.maxKeys ?? 10_000);
    let i = 0;
    for (const key of this.buckets.keys()) {
      if (i++ >= over) break;
      this.buckets.delete(key);
    }
  }

  private refuse(b: Bucket): ApiError {
    const perMs = this.opts.perMs ?? 1000;
    const waitS = Math.max(1, Math.ceil((((1 - b.tokens) / this.rate) * perMs) / 1000));
    const per = perMs === 60_000 ? "minute" : perMs === 1000 ? "second" : `${perMs} ms`;
    return new ApiError(
      429,
      "rate-limited",
      `rate limit of ${this.rate} ${this.opts.what ?? "requests"} per ${per} exceeded; retry in ${waitS} s`,
      { "Retry-After": String(waitS) },
    );
  }

  /** Spends one token of `key`'s; 429 when it has none. */
  take(key: string): void {
    const b = this.refilled(key);
    if (b.tokens < 1) {
      this.store(key, b);
      throw this.refuse(b);
    }
    b.tokens -= 1;
    this.store(key, b);
  }

  /** 429 when `key` has no token left; spends nothing. */
  check(key: string): void {
    const b = this.buckets.has(key) ? this.refilled(key) : undefined;
    if (b && b.tokens < 1) throw this.refuse(b);
  }

  /** Gives back a token `take` spent (the thing it was spent on turned out not to count). */
  refund(key: string): void {
    if (!this.buckets.has(key)) return;
    const b = this.refilled(key);
    b.tokens = Math.min(this.burst, b.tokens + 1);
    this.store(key, b);
  }

  /** Keys holding state (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }
}
