// `tmuxtrail audit`: recompute every hash of the log and check it against what is stored (the
// database: PostgreSQL or the embedded data directory) or served (--log URL). Exit 0 when all
// holds, 1 with the first finding named, 2 for usage errors, unreachable logs and bad input.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { auditDatabase, READERS } from "../audit/db-audit.ts";
import { auditServedLog } from "../audit/http-audit.ts";
import { progressBar } from "../audit/progress.ts";
import { type AuditReport, formatReport } from "../audit/report.ts";
import { readState, requireSameOrigin, writeState } from "../client/checkpoint-state.ts";
import { openCheckpoint } from "../core/checkpoint.ts";
import { parseLogVerifierKey, type Verifier, verifierKeyOf } from "../core/keys.ts";
import { jsonLine } from "../core/printable.ts";
import { connectPostgres, openPglite, type Sql } from "../db/sql.ts";
import { lockDataDir } from "../db/storage.ts";
import { privateDataDir } from "../lib/private-dir.ts";
import { DEFAULTS } from "../server/config.ts";
import { type Command, EXIT_OK, EXIT_VERIFY_FAILED, parseFlags, UsageError } from "./command.ts";
import { readToken } from "./log-api.ts";

export const audit: Command = {
  name: "audit",
  help: `Usage: tmuxtrail audit [--data DIR | --database-url URL] [--database-schema S] [--log-key VKEY] [--json]
       tmuxtrail audit --log URL --log-key VKEY [--token-file FILE] [--state FILE] [--json]

Recomputes the log from its leaves and checks everything stored or served beside them, so that
tampering, even by a database superuser with the append-only triggers disabled, is found:

  database (default)  every leaf index 0..size-1 present; each leaf's bytes hash to its tree leaf
                      hash; the indexed columns equal the leaf; every hash tile rebuilt and compared
                      byte for byte; every stored checkpoint signed by the log key with the rebuilt
                      root at its size; log_state's size, root and right edge; every stream's seq
                      gap-free and duplicate-free; every payload present and matching its leaf's
                      commitment, or named by an erasure event at a later index.
  --log URL           the served checkpoint verified with --log-key; every entry bundle fetched and
                      hashed; every hash tile rebuilt and compared; the root; streams. Payloads are
                      not served in tiles, so they are not checked this way.

The database is read in one read-only snapshot, so a log may keep serving on PostgreSQL while it
is audited. The embedded database (--data) allows one process: while \`serve\` runs on it, audit
the served log with --log instead.

Flags (environment variables in brackets):
  --data DIR               data directory of the embedded database (default ${DEFAULTS.dataDir})
  --database-url URL       audit this PostgreSQL instead [DATABASE_URL]
  --database-schema NAME   PostgreSQL schema of the log's tables (default public) [TMUXTRAIL_DATABASE_SCHEMA]
  --log-key VKEY           the log's verifier key (repeatable). Without it a database audit trusts
                           the key in <data>/log.key and says so; --log requires it.
  --log URL                audit a served log over its tlog-tiles API
  --token-file FILE        bearer token with read scope for --log [TMUXTRAIL_TOKEN]
  --state FILE             with --log: the last checkpoint this audit verified (created by the first
                           audit that holds, replaced atomically after each one that holds). The
                           rebuilt tree must reproduce its root at its size: a served log rebuilt
                           under the same key with another history, or a smaller one, is a finding
                           (exit 1, FILE kept). A FILE signed by another key or of another origin is
                           refused (exit 2). Without it, the audit trusts the checkpoint it is served.
  --json                   print one JSON object: {ok, leaves, tiles, checkpoints, streams,
                           payloads, erased, findings: [{kind, index|tile|size|stream, message}], elapsedMs}

A progress bar (leaves done, rate, ETA) is drawn on stderr when it is a terminal.

Exit codes: 0 everything holds; 1 something does not (the first finding names the leaf index, tile,
checkpoint size or stream, followed by up to 20 more); 2 usage error, unreachable log or database.

Examples:
  tmuxtrail audit --data ./data
  DATABASE_URL=postgres://auditor@db/tmuxtrail tmuxtrail audit --log-key "$(cat log.vkey)" --json
  tmuxtrail audit --log https://log.example --token-file reader.token --log-key "$(cat log.vkey)"`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      data: { type: "string" },
      "database-url": { type: "string" },
      "database-schema": { type: "string" },
      "log-key": { type: "string", multiple: true },
      log: { type: "string" },
      "token-file": { type: "string" },
      json: { type: "boolean" },
      state: { type: "string" },
    });
    const env = process.env;
    const dataDir = v.data ?? DEFAULTS.dataDir;
    const keys = (v["log-key"] ?? []).map(parseLogVerifierKey);
    const bar = progressBar();
    let report: AuditReport;
    let where: string;
    if (v.state !== undefined && v.log === undefined)
      throw new UsageError(
        "--state is for --log: a database audit reads every checkpoint it stored",
      );
    if (v.log !== undefined) {
      if (v.data || v["database-url"] || v["database-schema"]) {
        throw new UsageError("--log audits a served log: it takes no --data or database flags");
      }
      if (keys.length === 0)
        throw new UsageError(
          "--log needs --log-key VKEY: a served log cannot vouch for its own key",
        );
      where = v.log;
      const token = readToken(v["token-file"]);
      const stateFile = v.state;
      const saved = stateFile ? readState(stateFile, (n) => openCheckpoint(n, keys)) : undefined;
      let served: string | undefined;
      report = await auditServedLog(v.log, {
        verifiers: keys,
        token,
        onProgress: bar.update,
        saved: saved?.cp.checkpoint,
        onCheckpoint(note, checkpoint) {
          if (saved && stateFile) requireSameOrigin(saved.cp.checkpoint, checkpoint, stateFile);
          served = note;
        },
      });
      // Only a checkpoint whose whole tree held (and extended the saved one) is remembered.
      if (stateFile && report.ok && served !== undefined) writeState(stateFile, served);
    } else {
      const trusted = keys.length > 0 ? undefined : trustedKey(dataDir);
      const verifiers: Verifier[] = trusted ? [trusted.verifier] : keys;
      const url = v["database-url"] ?? (env.DATABASE_URL || undefined);
      const schema = v["database-schema"] ?? (env.TMUXTRAIL_DATABASE_SCHEMA || undefined);
      const db = await openDatabase(url, schema, dataDir);
      where = db.where;
      try {
        report = await auditDatabase(db.sql, { verifiers, onProgress: bar.update });
      } finally {
        await db.close();
      }
      if (trusted) {
        report.trustedKeyFile = trusted.file;
        console.error(
          `tmuxtrail audit: no --log-key given: trusting the key in ${trusted.file} (${trusted.verifier.key})`,
        );
      }
    }
    bar.end();
    if (v.json) console.log(jsonLine(report));
    else console.log(formatReport(report, where));
    return report.ok ? EXIT_OK : EXIT_VERIFY_FAILED;
  },
};

function trustedKey(dataDir: string): { verifier: Verifier; file: string } {
  const file = join(dataDir, "log.key");
  if (!existsSync(file)) {
    throw new UsageError(
      `--log-key VKEY is required (there is no ${file} to take the log's key from)`,
    );
  }
  return { verifier: parseLogVerifierKey(verifierKeyOf(readFileSync(file, "utf8").trim())), file };
}

/** Opens the database read-only by intent: no migrations, nothing created. */
async function openDatabase(
  url: string | undefined,
  schema: string | undefined,
  dataDir: string,
): Promise<{ sql: Sql; where: string; close(): Promise<void> }> {
  if (url) {
    // One connection per reader transaction of the audit (db-audit.ts: READERS).
    const sql = connectPostgres(url, { max: READERS, schema });
    try {
      await sql.query("SELECT 1");
    } catch (e) {
      await sql.close();
      throw new Error(`cannot reach the database: ${(e as Error).message}`);
    }
    return {
      sql,
      where: `PostgreSQL${schema ? ` (schema ${schema})` : ""}`,
      close: () => sql.close(),
    };
  }
  const dir = join(dataDir, "db");
  if (!existsSync(dir))
    throw new UsageError(
      `${dataDir} holds no embedded database (no ${dir}); pass --data DIR or DATABASE_URL`,
    );
  // Owner-only like serve's; then refuses a directory `serve` holds (pointing to --log URL).
  privateDataDir(dataDir, (m) => console.error(`tmuxtrail audit: ${m}`));
  const release = lockDataDir(dataDir);
  try {
    const { sql } = await openPglite(dir);
    return {
      sql,
      where: dataDir,
      async close() {
        await sql.close();
        release();
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}
