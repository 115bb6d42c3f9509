// `serve` configuration: read once from flags and environment, typed, passed down, never re-read.

export interface LogConfig {
  port: number;
  host: string;
  /** Data directory: the embedded database (when no DATABASE_URL), keys and the admin token. */
  dataDir: string;
  /**
   * Create a missing embedded database in a child process (db/embedded-create.ts), so a
   * long-running server stays at the memory of a restart; `serve` sets it.
   */
  createEmbeddedApart?: boolean;
  /** Signer key file; created in the data directory on first start when not given. */
  keyFile?: string;
  /** Checkpoint origin; defaults to the key's name. */
  origin?: string;
  databaseUrl?: string;
  /** PostgreSQL schema to hold the log's tables (default public). */
  databaseSchema?: string;
  readDatabaseUrl?: string;
  adminToken?: string;
  checkpointIntervalMs: number;
  batchMax: number;
  batchLingerMs: number;
  /** Requests per second per key; 0 = off. */
  rateLimit: number;
  /** Unknown or revoked tokens per minute per client address (IPv6: per /64); 0 = off. */
  authFailureLimit?: number;
  /** Session searches by command text per minute per key; 0 = off. */
  searchRateLimit?: number;
  /** Serve /metrics without a token (else it needs the read scope). */
  publicMetrics?: boolean;
  /** Connections per process in the PostgreSQL pool. */
  poolSize: number;
  /** Witnesses to ask for cosignatures: `<vkey>@<url>`. */
  witnesses: string[];
  /** Cosignatures `?wait=checkpoint` waits for. */
  witnessQuorum: number;
  /** How long `?wait=checkpoint` waits before answering 504 checkpoint-timeout. */
  waitTimeoutMs?: number;
  /** Erase payloads older than this (ms); 0 = keep forever. */
  retentionMs?: number;
  /** Webhook for alerts (bursts of denied requests). */
  alertUrl?: string;
}

export const DEFAULTS = {
  port: 8080,
  host: "127.0.0.1",
  dataDir: "./data",
  checkpointIntervalMs: 1000,
  batchMax: 4000,
  batchLingerMs: 2,
  rateLimit: 0,
  authFailureLimit: 30,
  searchRateLimit: 30,
  poolSize: 10,
  waitTimeoutMs: 30_000,
} as const;

/** Parses "500ms", "1s", "2m", "90d" or a bare number of milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`${what}: "${text}" is not a duration like 500ms, 1s, 5m, 90d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "ms"]!;
  return Number(m[1]) * unit;
}
