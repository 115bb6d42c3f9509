// Upgrading storage v1 (entries + payloads rows) to v2 (batches) in place (src/db/upgrade-v2.ts,
// docs/design.md §4.9). The v1 database is made at the previous release's schema (the migrations
// before 0005) and filled with what that release wrote for a log: the tree's leaves rows, tiles,
// state, checkpoints and sessions, and per leaf an entries row and, unless erased, a payloads row.
// Its data comes from a log run by today's code (events, commands, an erasure), written back in
// v1's layout. The upgrade is killed (SIGKILL) part way, then resumed by the next start; after it,
// every entry reads as before, the bundle, the proofs and `audit` verify, search and erasure work.

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { initLogState, migratePostgresUrl } from "../../src/db/migrate.ts";
import { audit } from "../audit/helpers.ts";
import { makeBatch, makeSubmission } from "../support/events.ts";
import { openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { type OldDb, oldDatabase, writeAsV1 } from "../support/v1-log.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A child process that upgrades the database in chunks of 5, slowly, printing its progress. */
function upgradeChild(where: OldDb["where"]): ChildProcess {
  const open = where.url
    ? `const { connectPostgres } = await import(${JSON.stringify(join(ROOT, "src/db/sql.ts"))});
       const { migratePostgresUrl } = await import(${JSON.stringify(join(ROOT, "src/db/migrate.ts"))});
       await migratePostgresUrl(${JSON.stringify(where.url)}, ${JSON.stringify(where.schema)});
       const sql = connectPostgres(${JSON.stringify(where.url)}, { schema: ${JSON.stringify(where.schema)}, max: 2 });`
    : `const { openPglite } = await import(${JSON.stringify(join(ROOT, "src/db/sql.ts"))});
       const { migratePgliteDb } = await import(${JSON.stringify(join(ROOT, "src/db/migrate.ts"))});
       const { sql, pg } = await openPglite(${JSON.stringify(where.dir)});
       await migratePgliteDb(pg);`;
  const code = `${open}
    const { upgradeToBatches } = await import(${JSON.stringify(join(ROOT, "src/db/upgrade-v2.ts"))});
    await upgradeToBatches(sql, { chunk: 5, afterChunk: async (n) => {
      console.log("converted " + n);
      await new Promise((r) => setTimeout(r, 150));
    } });
    console.log("finished");`;
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const post = (log: TestLog, path: string, body: unknown) =>
  log.req(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

const HOST = { host: "web-1", server: "default@1764050000" };
const ID = sessionId(HOST.host, HOST.server, "$1");

it("a v1 database is upgraded in place, survives kill -9 part way, and verifies after", {
  timeout: 180_000,
}, async () => {
  // 1. A log run by today's code: output, commands, a second session that is then erased.
  const v2 = await openTestLog();
  cleanups.push(() => v2.close());
  const commands = [0, 1, 2].map((i) =>
    makeSubmission({
      seq: 40 + i,
      type: "command",
      content: JSON.stringify({
        cwd: "/srv",
        end: "2026-11-24T19:00:01.000Z",
        exit: 0,
        line: `deploy-release --stage ${i}`,
        start: "2026-11-24T19:00:00.000Z",
      }),
    }),
  );
  const erasedSession = makeBatch(12, 0, { session: "$9", pane: "%7" });
  for (const body of [makeBatch(40), commands, erasedSession]) {
    expect((await post(v2, "/v1/events", body)).status).toBe(200);
  }
  const erase = await post(v2, "/v1/erasures", {
    session: sessionId(HOST.host, HOST.server, "$9"),
    reason: "test",
  });
  expect(erase.status).toBe(200);
  const [{ size }] = (await v2.db.sql.query("SELECT size FROM log_state")) as [{ size: number }];
  await v2.ctx.publisher.waitFor(size, 10_000);
  const before: unknown[] = [];
  for (let i = 0; i < size; i++) {
    const r = (await (await v2.req(`/v1/entries/${i}`)).json()) as Record<string, unknown>;
    before.push({ leaf: r.leaf, payload: r.payload, erased: r.erased, leafHash: r.leafHash });
  }
  expect(before.filter((e) => (e as { erased: boolean }).erased)).toHaveLength(12);

  // 2. The same log as the previous release stored it.
  const v1 = await oldDatabase(5, cleanups);
  await writeAsV1(v2.db.sql, v1.sql);
  // Reading content appended access events meanwhile: the v1 tree is larger than `size`.
  const [{ total }] = (await v1.sql.query("SELECT size AS total FROM log_state")) as [
    { total: number },
  ];
  expect(total).toBeGreaterThan(size);
  const where = v1.where;
  if (where.dir) await v1.sql.close(); // PGlite: one process per directory

  // 3. The upgrade, killed after a few chunks.
  const child = upgradeChild(where);
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (/converted (1[0-9]|[2-9][0-9])/.test(out)) {
        child.kill("SIGKILL");
        resolve();
      }
    });
    child.on("exit", () =>
      reject(new Error(`the upgrade ended before it was killed: ${out}${err}`)),
    );
  });
  await new Promise((r) => child.once("close", r));
  expect(out).not.toContain("finished");

  const sql = await v1.reopen();
  const [part] = await sql.query<{ done: number; v1: boolean }>(
    "SELECT count(batch)::int AS done, to_regclass('entries') IS NOT NULL AS v1 FROM leaves",
  );
  expect(part!.v1).toBe(true);
  expect(part!.done).toBeGreaterThanOrEqual(10);
  expect(part!.done).toBeLessThan(total);

  // 4. The next start finishes it (migrations are already applied; initLogState resumes).
  if (where.url) await migratePostgresUrl(where.url, where.schema);
  const said: string[] = [];
  await initLogState(sql, (m) => said.push(m));
  expect(said.join("\n")).toMatch(/storage upgrade: done, \d+ leaves in batches in [\d.]+ s/);
  const [after] = await sql.query<{ missing: number; v1: boolean; v1p: boolean }>(
    `SELECT count(*) FILTER (WHERE batch IS NULL)::int AS missing,
            to_regclass('entries') IS NOT NULL AS v1, to_regclass('payloads') IS NOT NULL AS v1p
       FROM leaves`,
  );
  expect(after).toEqual({ missing: 0, v1: false, v1p: false });
  const [slots] = await sql.query<{ n: number; distinct: number }>(
    "SELECT count(*)::int AS n, count(DISTINCT (batch, slot))::int AS distinct FROM leaves",
  );
  expect(slots).toEqual({ n: total, distinct: total });

  // 5. Served by today's code: every entry as before, proofs, bundle, audit, search, erasure.
  const up = await openTestLog({ db: v1.asTestDb(sql) });
  cleanups.push(() => up.close());
  for (let i = 0; i < size; i++) {
    const r = (await (await up.req(`/v1/entries/${i}`)).json()) as Record<string, unknown>;
    expect({ leaf: r.leaf, payload: r.payload, erased: r.erased, leafHash: r.leafHash }).toEqual(
      before[i],
    );
  }
  const report = await audit(up);
  expect(report.findings.map((f) => f.message)).toEqual([]);
  expect(report.leaves).toBeGreaterThanOrEqual(total);

  const res = await up.req(`/v1/sessions/${ID}/export`);
  expect(res.status).toBe(200);
  const verdict = verifySessionBundle(await res.json(), { logKeys: [TEST_KEY.verifierKey] });
  expect(verdict.failures).toEqual([]);
  expect(verdict.ok).toBe(true);

  const found = (await (await up.req("/v1/sessions?command=RELEASE --stage 2")).json()) as {
    id: string;
  }[];
  expect(found.map((s) => s.id)).toEqual([ID]);

  // An erased event resubmitted after the upgrade: a duplicate, still without content.
  const [dup] = (await (await post(up, "/v1/events", [erasedSession[3]])).json()) as {
    index: number;
    duplicate: boolean;
  }[];
  expect(dup!.duplicate).toBe(true);
  const erased = (await (await up.req(`/v1/entries/${dup!.index}`)).json()) as { erased: boolean };
  expect(erased.erased).toBe(true);

  // New events after the upgrade go into new batches; audit still passes over both.
  expect((await post(up, "/v1/events", makeBatch(20, 43))).status).toBe(200);
  await up.ctx.publisher.waitFor(total + 20, 10_000);
  const later = await audit(up);
  expect(later.findings).toEqual([]);
});
