// `tmuxtrail serve`: runs the log (storage, sequencer, checkpoint publisher, HTTP API).

import { startLogServer } from "../api/log-server.ts";
import { quorumWarning } from "../core/quorum.ts";
import { MAX_SLOTS } from "../db/batch-codec.ts";
import { triggerRoleWarning } from "../db/roles.ts";
import { surviveLostConnections } from "../db/sql.ts";
import { privateDataDir } from "../lib/private-dir.ts";
import { DEFAULTS, type LogConfig, parseDuration } from "../server/config.ts";
import { parseWitnessSpec } from "../server/witnesses.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

function int(v: string | undefined, name: string, def: number, min = 0, max = Infinity): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(
      max === Infinity
        ? `${name} must be an integer ≥ ${min}`
        : `${name} must be an integer from ${min} to ${max}`,
    );
  }
  return Number(v);
}

/** The banner's witness lines: the quorum, then each configured witness's key name and URL. */
export function witnessBanner(specs: string[], quorum: number): string[] {
  if (specs.length === 0) {
    return ["  witnesses     none (checkpoints carry the log's signature only)"];
  }
  return [
    `  witnesses     quorum ${quorum} of ${specs.length}${quorum === 0 ? " (?wait=checkpoint waits for no cosignature)" : ""}`,
    ...specs.map((spec) => {
      const w = parseWitnessSpec(spec);
      return `                ${w.key.name} at ${w.url}`;
    }),
  ];
}

export const serve: Command = {
  name: "serve",
  help: `Usage: tmuxtrail serve [flags]

Runs the log. Without DATABASE_URL it uses an embedded database in <data>/db (PGlite: it
survives a process crash, not an OS crash or power loss; use PostgreSQL in production).
On PostgreSQL it applies pending migrations at start when its role may (it owns the schema); run
it as a runtime role that owns nothing, after \`tmuxtrail migrate --grant-runtime ROLE\` as the
owner role: it then runs no DDL, and warns at start when its role could disable the log's
append-only triggers (docs/operations.md, "PostgreSQL roles").
The data directory is owner-only (0700, files 0600; checked and tightened at every start, with a
warning naming what was tightened), and serve runs with umask 077.

Flags (environment variables in brackets):
  --port N                  listen port (default ${DEFAULTS.port}) [PORT]
  --host ADDR               listen address (default ${DEFAULTS.host})
  --data DIR                data directory: embedded database, key, admin token (default ${DEFAULTS.dataDir})
  --key FILE                signer key (default <data>/log.key, created on first start)
  --origin NAME             checkpoint origin (default: the key's name)
  --database-url URL        PostgreSQL to use instead of the embedded database [DATABASE_URL]
  --database-schema NAME    PostgreSQL schema for the log's tables (default public) [TMUXTRAIL_DATABASE_SCHEMA]
  --read-database-url URL   serve reads from this (e.g. a hot standby) [TMUXTRAIL_READ_DATABASE_URL]
  --checkpoint-interval D   sign the tree at most this often (default 1s)
  --batch-max N             most leaves per sequencing transaction, at most ${MAX_SLOTS.toLocaleString("en-US")} (default ${DEFAULTS.batchMax})
  --batch-linger D          how long a batch waits for more submissions (default ${DEFAULTS.batchLingerMs}ms)
  --rate-limit N            requests per second per API key (default off)
  --auth-failure-limit N    unknown or revoked tokens per minute per client address (IPv6: per
                            /64); past it 429 with Retry-After to anything it sends with a token
                            (default ${DEFAULTS.authFailureLimit}; 0 = off; behind a reverse proxy all clients share one)
  --search-rate-limit N     session searches by command text per minute per key, each recorded as
                            an access event (default ${DEFAULTS.searchRateLimit}; 0 = off)
  --public-metrics          serve /metrics without a token (default: a key with the read scope)
  --pool-size N             PostgreSQL connections per process (default ${DEFAULTS.poolSize})
  --witness VKEY@URL        a witness to ask for cosignatures, repeatable (its cosignature key)
  --witness-quorum K        cosignatures ?wait=checkpoint waits for (default 0)
  --wait-timeout D          how long ?wait=checkpoint waits for that checkpoint before answering
                            504 checkpoint-timeout (the events are sequenced all the same) (default 30s)
  --retention D             erase session content (payloads only) older than D, e.g. 90d; checked
                            hourly, each erasure recorded as an erasure event (default off)
  --alert-url URL           POST a JSON alert here on a burst of denied requests [TMUXTRAIL_ALERT_URL]
The admin token is TMUXTRAIL_ADMIN_TOKEN, else generated on first start into <data>/admin.token.

SIGTERM or SIGINT: stop accepting, answer every accepted submission, sign a last checkpoint, exit.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      port: { type: "string" },
      host: { type: "string" },
      data: { type: "string" },
      key: { type: "string" },
      origin: { type: "string" },
      "database-url": { type: "string" },
      "database-schema": { type: "string" },
      "read-database-url": { type: "string" },
      "checkpoint-interval": { type: "string" },
      "wait-timeout": { type: "string" },
      "batch-max": { type: "string" },
      "batch-linger": { type: "string" },
      "rate-limit": { type: "string" },
      "auth-failure-limit": { type: "string" },
      "search-rate-limit": { type: "string" },
      "public-metrics": { type: "boolean" },
      "pool-size": { type: "string" },
      witness: { type: "string", multiple: true },
      "witness-quorum": { type: "string" },
      retention: { type: "string" },
      "alert-url": { type: "string" },
    });
    const env = process.env;
    let durations: { interval: number; waitTimeout: number; linger: number; retention: number };
    try {
      durations = {
        interval: parseDuration(v["checkpoint-interval"] ?? "1s", "--checkpoint-interval"),
        waitTimeout: parseDuration(
          v["wait-timeout"] ?? `${DEFAULTS.waitTimeoutMs}ms`,
          "--wait-timeout",
        ),
        linger: parseDuration(v["batch-linger"] ?? `${DEFAULTS.batchLingerMs}ms`, "--batch-linger"),
        retention: v.retention ? parseDuration(v.retention, "--retention") : 0,
      };
      if (durations.waitTimeout < 100 || durations.waitTimeout > 86_400_000) {
        throw new Error(`--wait-timeout ${v["wait-timeout"]} must be between 100ms and 1d`);
      }
      if (v.retention && durations.retention < 3_600_000) {
        throw new Error(`--retention ${v.retention} is under an hour; give days, e.g. 90d`);
      }
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const cfg: LogConfig = {
      port: int(v.port ?? env.PORT, "--port", DEFAULTS.port),
      host: v.host ?? DEFAULTS.host,
      dataDir: v.data ?? DEFAULTS.dataDir,
      createEmbeddedApart: true,
      keyFile: v.key,
      origin: v.origin,
      databaseUrl: v["database-url"] ?? (env.DATABASE_URL || undefined),
      databaseSchema: v["database-schema"] ?? (env.TMUXTRAIL_DATABASE_SCHEMA || undefined),
      readDatabaseUrl: v["read-database-url"] ?? (env.TMUXTRAIL_READ_DATABASE_URL || undefined),
      adminToken: env.TMUXTRAIL_ADMIN_TOKEN || undefined,
      checkpointIntervalMs: durations.interval,
      waitTimeoutMs: durations.waitTimeout,
      // A batch is one stored object; readers refuse one of more than MAX_SLOTS slots.
      batchMax: int(v["batch-max"], "--batch-max", DEFAULTS.batchMax, 1, MAX_SLOTS),
      batchLingerMs: durations.linger,
      rateLimit: int(v["rate-limit"], "--rate-limit", 0),
      authFailureLimit: int(
        v["auth-failure-limit"],
        "--auth-failure-limit",
        DEFAULTS.authFailureLimit,
      ),
      searchRateLimit: int(v["search-rate-limit"], "--search-rate-limit", DEFAULTS.searchRateLimit),
      publicMetrics: v["public-metrics"] ?? false,
      poolSize: int(v["pool-size"], "--pool-size", DEFAULTS.poolSize, 1),
      witnesses: v.witness ?? [],
      witnessQuorum: int(v["witness-quorum"], "--witness-quorum", 0),
      retentionMs: durations.retention,
      alertUrl: v["alert-url"] ?? (env.TMUXTRAIL_ALERT_URL || undefined),
    };
    for (const w of cfg.witnesses) {
      try {
        parseWitnessSpec(w);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    if (cfg.witnessQuorum > cfg.witnesses.length) {
      throw new UsageError(
        `--witness-quorum ${cfg.witnessQuorum} is more than the ${cfg.witnesses.length} witnesses given`,
      );
    }
    const qw = quorumWarning(cfg.witnessQuorum, cfg.witnesses.length);
    if (qw) console.error(`tmuxtrail: warning: ${qw}`);
    surviveLostConnections((m) => console.error(`tmuxtrail: ${m}`));
    privateDataDir(cfg.dataDir, (m) => console.error(`tmuxtrail: ${m}`));
    const running = await startLogServer(cfg);
    // A role that can disable the append-only triggers (superuser, owner): say so, once.
    try {
      const rw = await triggerRoleWarning(running.ctx.sql);
      if (rw) console.error(`tmuxtrail: warning: ${rw}`);
    } catch (e) {
      console.error(
        `tmuxtrail: warning: could not check the database role: ${(e as Error).message}`,
      );
    }
    const token = running.adminTokenFile
      ? `$(cat ${running.adminTokenFile})`
      : "$TMUXTRAIL_ADMIN_TOKEN";
    const out = [
      `tmuxtrail log listening on ${running.url}`,
      `  origin        ${running.origin}`,
      `  verifier key  ${running.verifierKey}`,
      `  signer key    ${running.keyFile}`,
      `  storage       ${running.storageKind === "postgres" ? "PostgreSQL" : `embedded PGlite in ${cfg.dataDir}/db (survives a process crash, not an OS crash or power loss: use PostgreSQL in production)`}`,
      `  admin token   ${running.adminTokenFile ?? "from TMUXTRAIL_ADMIN_TOKEN"}`,
      ...witnessBanner(cfg.witnesses, cfg.witnessQuorum),
      "",
      "Next:",
      `  curl -s ${running.url}/checkpoint`,
      `  curl -s -H "Authorization: Bearer ${token}" \\`,
      `       -H 'Content-Type: application/octet-stream' --data-binary 'hello' ${running.url}/v1/leaves`,
      `  curl -s -H "Authorization: Bearer ${token}" "${running.url}/v1/proof/inclusion?index=0&size=1"`,
      `  open ${running.url}/ui   (sign in with a read token: tmuxtrail keys create --name me --scope read)`,
    ];
    console.log(out.join("\n"));
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        console.error(`tmuxtrail: ${sig}: draining and shutting down`);
        running.close().then(resolve, (e) => {
          console.error(`tmuxtrail: shutdown: ${(e as Error).message}`);
          resolve();
        });
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    });
    return 0;
  },
};
