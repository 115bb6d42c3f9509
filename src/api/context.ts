// What the HTTP handlers are given: storage, the sequencer, the publisher's state, auth and
// metrics. Built once by `serve` (src/api/log-server.ts) or by a test, passed down, never global.

import type { Hasher } from "../core/hash.ts";
import type { BatchStore } from "../db/batch-store.ts";
import type { Sql } from "../db/sql.ts";
import type { OwnEventWriter } from "../server/own-event-writer.ts";
import type { Publisher } from "../server/publisher.ts";
import type { Sequencer } from "../server/sequencer.ts";
import type { Auth } from "./auth.ts";
import type { Denials } from "./denials.ts";
import type { LogMetrics } from "./metrics.ts";
import type { RateLimiter } from "./rate-limit.ts";

export interface LogContext {
  /** The primary database: all writes. */
  sql: Sql;
  /** Where reads go (a hot standby when configured; else the primary). */
  readSql: Sql;
  /** Leaf and payload bytes from `readSql`'s batches: one per process, so routes share its cache. */
  batches: BatchStore;
  sequencer: Sequencer;
  publisher: Publisher;
  auth: Auth;
  metrics: LogMetrics;
  hasher: Hasher;
  origin: string;
  /** The log's note verifier key. */
  verifierKey: string;
  /** Requests per key (serve --rate-limit); off when undefined. */
  rateLimiter?: RateLimiter;
  /** Failed authentications per client address (serve --auth-failure-limit). */
  authFailures?: RateLimiter;
  /** Session searches by command text per key (serve --search-rate-limit). */
  searchLimiter?: RateLimiter;
  /** /metrics without a token (serve --public-metrics); else it needs the read scope. */
  publicMetrics?: boolean;
  /** Appends the log's own access and erasure events. */
  ownEvents: OwnEventWriter;
  /** Witness cosignature verifier keys the log asks (serve --witness), and the quorum it wants. */
  witnessKeys: string[];
  witnessQuorum: number;
  /** How long `?wait=checkpoint` waits before answering 504 (serve --wait-timeout). */
  waitTimeoutMs?: number;
  /** Denied requests: per key and address in /metrics, bursts to serve --alert-url. */
  denials: Denials;
  say: (msg: string) => void;
}
