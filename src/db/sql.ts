// One small SQL interface over both drivers: PostgreSQL through postgres.js (production) and
// embedded PGlite (zero setup). Hot-path SQL is written once against it. drizzle-orm owns the schema
// and the migrations (see migrate.ts); the raw client here is never handed to drizzle, because
// drizzle alters a postgres.js client it is given (docs/design.md §4.1).
//
// Conventions both drivers are configured to follow: bigint (int8) columns come back as JS numbers
// (tree sizes stay below 2^53), bytea as Uint8Array, timestamptz as Date.

import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { OwnerOnlyNodeFS } from "./owner-only-fs.ts";

export type Row = Record<string, unknown>;

export interface Sql {
  readonly kind: "postgres" | "pglite";
  /** Runs one statement with $1… parameters. */
  query<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs `fn` in a transaction (READ COMMITTED): committed when it resolves, rolled back if it throws. */
  begin<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  max?: number;
  /** A schema to use instead of public (tests give each test its own). */
  schema?: string;
}

const int8AsNumber = {
  to: 20,
  from: [20],
  serialize: (x: unknown) => String(x),
  parse: (x: string) => Number(x),
};

/**
 * Seconds before reconnecting after the `retries`-th failed connection: 50 ms doubling, at most
 * 1 s (jittered). postgres.js's default grows to 20 s, and queries wait for that reconnect: after a
 * database outage of a few seconds, requests hung for up to 20 s instead of being answered 503 at
 * once and served again as soon as the database was back (test/faults/pg-terminate.test.ts).
 */
export function reconnectDelay(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1);
}

/**
 * Settings every connection of the log sends in its startup packet, above any default of the
 * server, the database or the role (`ALTER DATABASE ... SET synchronous_commit = off` included):
 * a COMMIT returns only once it is durable (flushed to the WAL), so the log never signs a leaf,
 * or answers for one, that a crash of the database could then lose (docs/design.md §4.1).
 */
export const LOG_SESSION_SETTINGS = { synchronous_commit: "on" } as const;

export function connectPostgres(url: string, opts: PostgresOptions = {}): Sql {
  const client = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    types: { bigint: int8AsNumber },
    backoff: reconnectDelay,
    // A database host that drops packets (a partition) must not hold a query for the default 30 s.
    connect_timeout: 10,
    connection: {
      ...LOG_SESSION_SETTINGS,
      // Prepared statements are re-planned for each execution's parameters (see query below).
      plan_cache_mode: "force_custom_plan",
      ...(opts.schema ? { search_path: opts.schema } : {}),
    },
  });
  return failFast(wrapPostgres(client, true));
}

/** The error a query gets at once while the database is known to be unreachable. */
export class DatabaseUnreachableError extends Error {
  readonly code = "DATABASE_UNREACHABLE";
  constructor(cause: string) {
    super(`the database is unreachable (${cause}); retry`);
    this.name = "DatabaseUnreachableError";
  }
}

/**
 * Once a query finds the database unreachable, later queries fail at once (503 to their callers)
 * while one at a time goes through as a probe (a new one when the last has not settled within
 * `probeWindowMs`); the first query that succeeds ends it. postgres.js
 * alone fails only one waiting query per connection per reconnect attempt, so under load an
 * outage held requests for many seconds each (measured: 40 waiting queries on a pool of 4 took
 * 6.5 s to all be answered), and a steady stream of requests could wait without end.
 */
export function failFast(sql: Sql, probeWindowMs = 2000): Sql {
  let down: string | undefined;
  // The probe in flight: one that has not settled within the window (a connection stuck
  // reconnecting) does not block the next one.
  let probe: { started: number } | undefined;
  const guard = async <T>(run: () => Promise<T>): Promise<T> => {
    let mine: typeof probe;
    if (down !== undefined) {
      if (probe && Date.now() - probe.started < probeWindowMs)
        throw new DatabaseUnreachableError(down);
      mine = probe = { started: Date.now() };
    }
    try {
      const r = await run();
      down = undefined; // any success: the database answers
      return r;
    } catch (e) {
      if (isConnectionLost(e)) down = (e as { code: string }).code;
      else if (mine) down = undefined; // it reached the database: the error is the query's own
      throw e;
    } finally {
      if (mine && probe === mine) probe = undefined;
    }
  };
  return {
    ...sql,
    query: (text, params) => guard(() => sql.query(text, params)),
    begin: (fn) => guard(() => sql.begin(fn)),
  };
}

/**
 * Ends a transaction's handle when the transaction ends. postgres.js 3.4 (porsager/postgres#1186,
 * #1216) rejects `begin` when PostgreSQL closes the connection, but leaves the queries waiting in
 * the transaction's own queue pending for good (a request, and the log's shutdown, hung on them),
 * and a query issued through the handle afterwards (its callback goes on running) runs on the
 * pool's next connection, outside any transaction. Through the guarded handle, a query still
 * pending when the transaction ends is rejected with the transaction's error, and one issued after
 * it never reaches the driver. A lost connection seen by any query of the transaction ends it at
 * once, before the caller sees that error (test/db/transaction-fence.test.ts).
 */
class TransactionFence {
  private ended: unknown;
  private readonly listeners = new Set<(e: unknown) => void>();

  end(e: unknown): void {
    if (this.ended !== undefined) return;
    this.ended = e;
    for (const l of this.listeners) l(e);
    this.listeners.clear();
  }

  guard(tx: Sql): Sql {
    const run = async <T>(q: () => Promise<T>): Promise<T> => {
      if (this.ended !== undefined) throw this.ended;
      let stop!: (e: unknown) => void;
      const stopped = new Promise<never>((_, reject) => {
        stop = reject;
      });
      this.listeners.add(stop);
      try {
        return await Promise.race([q(), stopped]);
      } catch (e) {
        if (isConnectionLost(e)) this.end(e);
        throw e;
      } finally {
        this.listeners.delete(stop);
      }
    };
    return {
      ...tx,
      query: (text, params) => run(() => tx.query(text, params)),
      begin: () => Promise.reject(new Error("nested transactions are not supported")),
    };
  }
}

function wrapPostgres(client: postgres.Sql | postgres.TransactionSql, root: boolean): Sql {
  return {
    kind: "postgres",
    async query<T>(text: string, params: unknown[] = []) {
      // Named prepared statements, one per distinct text (every text is a constant: values always
      // travel as parameters), so a query is one round trip and queries pipeline on a connection;
      // unnamed ones cost a Describe round trip each and stop the pipeline (measured: a batch's
      // row-locked integration 195 → 165 ms under load). Each is still planned for its actual
      // parameters (plan_cache_mode above): cached generic plans chose nested loops over
      // whole-table scans for the sequencer's array lookups (seconds per batch on a young table).
      // biome-ignore lint/suspicious/noExplicitAny: postgres.js types its parameters loosely
      return (await client.unsafe(text, params as any[], { prepare: true })) as unknown as T[];
    },
    async begin<T>(fn: (tx: Sql) => Promise<T>) {
      if (!root) throw new Error("nested transactions are not supported");
      const fence = new TransactionFence();
      try {
        return (await (client as postgres.Sql).begin((tx) =>
          fn(fence.guard(wrapPostgres(tx, false))),
        )) as T;
      } catch (e) {
        fence.end(e);
        throw e;
      } finally {
        fence.end(new Error("the transaction has ended; a query through it runs nowhere"));
      }
    },
    async close() {
      if (root) await (client as postgres.Sql).end({ timeout: 5 });
    },
  };
}

/**
 * The embedded server's memory settings. PGlite's memory is one WebAssembly memory that grows and
 * never shrinks, so each buffer PostgreSQL fills stays resident for the life of the process: the
 * defaults (shared_buffers 128 MB, maintenance_work_mem 64 MB) held an idle `serve` at 337 MB
 * after a restart; these at ~210 MB (docs/performance.md, "The embedded database's memory").
 * One backend, one process: PostgreSQL's own page cache matters less than the OS's beneath it.
 */
export const EMBEDDED_SETTINGS = [
  "shared_buffers=8MB",
  "wal_buffers=512kB",
  "temp_buffers=1MB",
  "work_mem=1MB",
  "maintenance_work_mem=8MB",
];

/**
 * Embedded PGlite in `dataDir` (a directory), or in memory when undefined. On disk everything it
 * writes is owner-only (owner-only-fs.ts).
 */
export async function openPglite(dataDir?: string): Promise<{ sql: Sql; pg: PGlite }> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const startParams = [
    ...PGlite.defaultStartParams,
    ...EMBEDDED_SETTINGS.flatMap((s) => ["-c", s]),
  ];
  const pg =
    dataDir === undefined
      ? new PGlite({ startParams })
      : new PGlite({ fs: new OwnerOnlyNodeFS(dataDir), startParams });
  await pg.waitReady;
  return { sql: wrapPglite(pg, pg, true), pg };
}

interface PgliteLike {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

function wrapPglite(pg: PGlite, q: PgliteLike, root: boolean): Sql {
  return {
    kind: "pglite",
    async query<T>(text: string, params: unknown[] = []) {
      return (await q.query<T>(text, params)).rows;
    },
    async begin<T>(fn: (tx: Sql) => Promise<T>) {
      if (!root) throw new Error("nested transactions are not supported");
      return pg.transaction((tx) => fn(wrapPglite(pg, tx, false)));
    },
    async close() {
      if (root) await pg.close();
    },
  };
}

/** What postgres.js rejects its own queries with when a connection goes (see below). */
const DRIVER_LOST = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNRESET",
  "ECONNREFUSED",
  "57P01",
  "57P02",
]);

/**
 * Error codes of a lost or unreachable database: the driver's, failFast's, the socket's, and
 * PostgreSQL's admin and crash shutdowns (57P01, 57P02); SQLSTATE class 08 (connection exception)
 * by prefix.
 */
const CONNECTION_LOST = new Set([
  ...DRIVER_LOST,
  "DATABASE_UNREACHABLE",
  "CONNECT_TIMEOUT",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

export function isConnectionLost(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && (CONNECTION_LOST.has(code) || /^08[0-9A-Z]{3}$/.test(code));
}

/**
 * For long-running processes: a query of the driver's own (a transaction's BEGIN or ROLLBACK)
 * can be rejected with nobody awaiting it when PostgreSQL closes the connection (a restart,
 * pg_terminate_backend). That must not kill the process: the pool reconnects and the request that
 * needed it was already answered 503. Any other unhandled rejection still ends the process.
 */
export function surviveLostConnections(say: (msg: string) => void): void {
  process.on("unhandledRejection", (e) => {
    // Only the driver's own codes: a socket error of anything else (a witness, a webhook) that
    // nobody handled is a bug, and still ends the process.
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === "string" && DRIVER_LOST.has(code)) {
      say(`a database connection was lost (${(e as { code: string }).code}); the pool reconnects`);
      return;
    }
    throw e;
  });
}
