// Reads from a replica that lags the primary (`serve --read-database-url`): what the primary has
// and the replica has not replayed yet is a 503 `replica-behind` with Retry-After (retry, the
// answer is coming), never a 400 or 404 (which would tell a client the leaf or size does not
// exist); what neither has is still a 400 or 404; the checkpoint served is the replica's own, whose
// tiles it holds. The lagging replica is a second database holding a copy of the log taken earlier
// (test/replica has the real streaming standby).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app.ts";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import type { Sql } from "../../src/db/sql.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";

/** Copies every row of the log's tables from `from` to `to` that `to` lacks (a replica replaying). */
async function replicate(from: Sql, to: Sql): Promise<void> {
  const tables = await from.query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
  );
  for (const { name } of tables) {
    const [{ rows }] = (await from.query<{ rows: string }>(
      `SELECT coalesce(json_agg(t), '[]'::json)::text AS rows FROM ${name} t`,
    )) as [{ rows: string }];
    const populate = `json_populate_recordset(null::${name}, $1::text::json)`;
    if (name === "log_state") {
      await to.query(
        `UPDATE log_state s SET size = r.size, root = r.root, right_edge = r.right_edge
           FROM ${populate} r WHERE s.id = r.id`,
        [rows],
      );
    } else {
      // Partial tiles grow in place; every other row the log writes is final.
      const onConflict =
        name === "tiles" ? "(level, idx) DO UPDATE SET hashes = EXCLUDED.hashes" : "DO NOTHING";
      await to.query(
        `INSERT INTO ${name} OVERRIDING SYSTEM VALUE SELECT * FROM ${populate} ON CONFLICT ${onConflict}`,
        [rows],
      );
    }
  }
}

let log: TestLog;
let replica: TestDb;
let app: ReturnType<typeof createApp>;
const get = (path: string) => app.request(path, { headers: { Authorization: `Bearer ${ADMIN}` } });

async function submit(from: number, n: number): Promise<void> {
  const res = await log.req("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(makeBatch(n, from, { pane: "%replica" })),
  });
  expect(res.status).toBe(200);
}

async function expectBehind(path: string): Promise<void> {
  const res = await get(path);
  expect(res.status, path).toBe(503);
  expect(res.headers.get("Retry-After")).toBe("1");
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("replica-behind");
  expect(body.error.message).toMatch(/read replica has not caught up/);
}

beforeAll(async () => {
  log = await openTestLog();
  replica = await openTestDb();
  await submit(0, 300);
  await log.ctx.publisher.waitFor(300, 10_000);
  await replicate(log.db.sql, replica.sql); // the replica has the first 300 leaves
  await submit(300, 300);
  await log.ctx.publisher.waitFor(600, 10_000); // the primary has published 600
  app = createApp({ ...log.ctx, readSql: replica.sql, batches: new BatchStore(replica.sql) });
});
afterAll(async () => {
  await replica.close();
  await log.close();
});

describe("a read replica behind the primary", () => {
  it("serves the checkpoint it holds the tiles for, not the primary's", async () => {
    const res = await get("/checkpoint");
    expect(res.status).toBe(200);
    const { checkpoint } = openCheckpoint(await res.text(), [
      parseVerifierKey(TEST_KEY.verifierKey),
    ]);
    expect(checkpoint.size).toBe(300);
  });

  it("answers 503 replica-behind for what only the primary has yet", async () => {
    await expectBehind("/v1/proof/inclusion?index=0&size=600");
    await expectBehind("/v1/proof/consistency?from=300&to=600");
    await expectBehind("/v1/entries/450");
  });

  it("answers what it has, and 400/404 for what neither has", async () => {
    expect((await get("/v1/proof/inclusion?index=0&size=300")).status).toBe(200);
    expect((await get("/v1/entries/100")).status).toBe(200);
    const beyond = await get("/v1/proof/inclusion?index=0&size=5000");
    expect(beyond.status).toBe(400);
    expect(((await beyond.json()) as { error: { message: string } }).error.message).toMatch(
      /beyond the newest checkpoint \(size 300\)/,
    );
    expect((await get("/v1/entries/99999")).status).toBe(404);
  });

  it("once the replica has replayed, the same requests succeed", async () => {
    await replicate(log.db.sql, replica.sql);
    expect((await get("/v1/proof/inclusion?index=0&size=600")).status).toBe(200);
    expect((await get("/v1/proof/consistency?from=300&to=600")).status).toBe(200);
    expect((await get("/v1/entries/450")).status).toBe(200);
  });
});
