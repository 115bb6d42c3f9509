// Builds, straight in PostgreSQL, a log that holds one long tmux session for the export and
// verify-bundle benchmarks (issue 19): `events` valid output events of session $1 on `panes` panes
// (seq contiguous per pane), their times spread evenly over `hours` from `start`, each with a salt
// and a chunk of terminal text (listings, test results with colours, compiler lines, progress
// lines: 20 to 400 bytes) committed in its canonical JSON leaf; every fifth leaf is an event of
// another session ($2), so the session's indexes are not one run. Leaves, entries, payloads, the
// session rows and the level-0 tiles are made by SQL (generate_series, sha256, string_agg); the
// upper tiles and the signed checkpoint as big-log.ts does. `serve` then starts on it like on any
// log, and its export verifies (leaves are in canonical form, commitments hold).

import { sessionId } from "../../src/core/session-id.ts";
import { createLogState, initLogState, migratePostgresUrl } from "../../src/db/migrate.ts";
import { connectPostgres } from "../../src/db/sql.ts";
import { migrationsBefore } from "../../test/support/v1-log.ts";
import { treeOfLeaves } from "./big-log.ts";

export const SESSION_HOST = "bench-host";
export const SESSION_SERVER = "default@1764050000";

export interface SessionLog {
  /** The long session's id (GET /v1/sessions/:id/export). */
  id: string;
  events: number;
  /** Leaves in the log (the session's and the other session's). */
  size: number;
  start: Date;
  hours: number;
  seconds: number;
}

export async function buildSessionLog(
  url: string,
  schema: string,
  o: { events: number; panes: number; hours: number; start: Date; signerKey: string },
): Promise<SessionLog> {
  const t0 = performance.now();
  // Storage v1's schema (the migrations before 0005): the rows below are v1's, which the
  // upgrade then converts (today's schema refuses them).
  const cleanups: (() => Promise<void>)[] = [];
  await migratePostgresUrl(url, schema, migrationsBefore(5, cleanups));
  const sql = connectPostgres(url, { schema, max: 2 });
  // Leaf i: of $2 when i % 5 = 4, else event k = i - i/5 of $1 (pane k % panes, seq k / panes).
  const size = o.events + Math.floor(o.events / 4);
  try {
    // Written in storage v1's layout by SQL (fast), then converted by the upgrade (initLogState).
    await createLogState(sql);
    await sql.query(
      `CREATE UNLOGGED TABLE gen AS
       WITH base AS (
         SELECT i,
                i % 5 = 4 AS other,
                CASE WHEN i % 5 = 4 THEN i / 5 ELSE i - i / 5 END AS k,
                -- As the leaf says it (milliseconds): the time column is the leaf's time.
                date_trunc('milliseconds',
                  $2::timestamptz + make_interval(secs => i * $3::float8 / $1::int8)) AS t,
                sha256(int8send(i) || '\\x73616c74'::bytea) AS salt,
                convert_to(CASE i % 4
                  WHEN 0 THEN '$ ls -la src/' || E'\\r\\n' || repeat('-rw-r--r--  1 alice staff ' ||
                    lpad((i % 9000)::text, 6) || ' Nov 24 19:00 module' || (i % 313) || E'.ts\\r\\n', (1 + i % 6)::int)
                  WHEN 1 THEN E'\\x1b[32m\\u2713\\x1b[0m test ' || i || ' passed in ' || (i % 97) || E' ms\\r\\n'
                  WHEN 2 THEN 'compiling module_' || (i % 1000) || ' ' || repeat('.', (i % 60)::int) || E' done\\r\\n'
                  ELSE E'\\x1b[2K\\rprogress ' || (i % 100) || '% [' || repeat('#', (i % 40)::int) || ']'
                END, 'UTF8') AS content
           FROM generate_series(0, $1::int8 - 1) i
       ), ev AS (
         SELECT i, t, salt, content,
                CASE WHEN other THEN '$2' ELSE '$1' END AS session,
                CASE WHEN other THEN '%99' ELSE '%' || (k % $4) END AS pane,
                CASE WHEN other THEN k ELSE k / $4 END AS seq,
                to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time
           FROM base
       )
       SELECT i, t, salt, content, session, pane, seq, convert_to(
                '{"host":"${SESSION_HOST}","pane":"' || pane || '","payload":{"sha256":"' ||
                encode(sha256(salt || content), 'base64') || '","size":' || octet_length(content) ||
                '},"seq":' || seq || ',"server":"${SESSION_SERVER}","session":"' || session ||
                '","time":"' || time || '","type":"output","user":"alice","v":1,"window":"@' ||
                substr(pane, 2) || '"}', 'UTF8') AS leaf
         FROM ev`,
      [size, o.start.toISOString(), o.hours * 3600, o.panes],
    );
    await sql.query("ALTER TABLE gen ADD COLUMN leaf_hash bytea");
    await sql.query("UPDATE gen SET leaf_hash = sha256('\\x00'::bytea || leaf)");
    await sql.query("INSERT INTO entries (leaf_hash, leaf) SELECT leaf_hash, leaf FROM gen");
    await sql.query(
      "INSERT INTO payloads (leaf_hash, salt, content) SELECT leaf_hash, salt, content FROM gen",
    );
    await sql.query(
      `INSERT INTO leaves (idx, leaf_hash, host, server, pane, seq, session, type, "user", time)
         SELECT i, leaf_hash, $1, $2, pane, seq, session, 'output', 'alice', t FROM gen ORDER BY i`,
      [SESSION_HOST, SESSION_SERVER],
    );
    for (const s of ["$1", "$2"]) {
      await sql.query(
        `INSERT INTO sessions (id, host, server, session, "user", first_idx, last_idx, first_time, last_time, events)
           SELECT $1, $2, $3, $4, 'alice', min(i), max(i), min(t), max(t), count(*) FROM gen WHERE session = $4`,
        [sessionId(SESSION_HOST, SESSION_SERVER, s), SESSION_HOST, SESSION_SERVER, s],
      );
    }
    await sql.query("DROP TABLE gen");
    await sql.query(
      `INSERT INTO tiles (level, idx, hashes)
         SELECT 0, idx / 256, string_agg(leaf_hash, ''::bytea ORDER BY idx) FROM leaves GROUP BY idx / 256`,
    );
    await treeOfLeaves(sql, size, o.signerKey);
    await migratePostgresUrl(url, schema);
    await initLogState(sql, (m) => process.stderr.write(`${m}\n`));
    // The upgrade rewrote every leaves row once: vacuum now, not during the measurements.
    await sql.query("VACUUM (ANALYZE) leaves");
    await sql.query("ANALYZE");
  } finally {
    await sql.close();
    for (const c of cleanups) await c();
  }
  return {
    id: sessionId(SESSION_HOST, SESSION_SERVER, "$1"),
    events: o.events,
    size,
    start: o.start,
    hours: o.hours,
    seconds: (performance.now() - t0) / 1000,
  };
}
