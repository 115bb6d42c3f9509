// A transaction whose connection PostgreSQL closes (pg_terminate_backend, a restart) ends there:
// every query of it settles (none waits for ever), and nothing issued through it afterwards runs,
// on any connection. postgres.js 3.4 alone (porsager/postgres#1186, #1216) leaves the queries that
// waited in the transaction's own queue pending for good (a request, and the log's shutdown,
// hung on them: the CI failure of test/faults/pg-terminate.test.ts), and runs a query issued
// through the dead transaction on the pool's next connection, outside any transaction.
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPostgres, isConnectionLost, type Sql } from "../../src/db/sql.ts";
import { usingPostgres } from "../support/db.ts";

/** `p`, or a rejection naming `what` after `ms` (so a hang is a failure, not a timeout). */
const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms),
    ),
  ]);

describe.runIf(usingPostgres)("a transaction whose connection is closed", () => {
  const url = process.env.DATABASE_URL!;
  const schema = `t_${randomBytes(6).toString("hex")}`;
  let admin: postgres.Sql;
  let sql: Sql;
  beforeAll(async () => {
    admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    await admin.unsafe(`CREATE TABLE ${schema}.t (x int)`);
    // One connection: the reconnect after the kill is the same pool slot the transaction had.
    sql = connectPostgres(url, { schema, max: 1 });
  });
  afterAll(async () => {
    await sql?.close();
    await admin?.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await admin?.end({ timeout: 5 });
  });

  it("settles every query it queued, and runs nothing issued through it afterwards", {
    timeout: 30_000,
  }, async () => {
    let queued: PromiseSettledResult<unknown>[] = [];
    let late: PromiseSettledResult<unknown> | undefined;
    let beginSettled = false;
    const done = sql.begin(async (tx) => {
      const [row] = await tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const pid = row!.pid;
      // Statements this connection has not prepared yet each need a Describe first, so all but
      // the first wait in the transaction's own queue.
      const sent = [
        tx.query("SELECT pg_sleep(5) AS slept"),
        tx.query("INSERT INTO t VALUES (1)"),
        tx.query("SELECT count(*) AS n FROM t"),
      ];
      for (const p of sent) p.catch(() => {});
      await admin`SELECT pg_terminate_backend(${pid})`;
      queued = await within(Promise.allSettled(sent), 10_000, "the transaction's queries");
      // The pool reconnects its one connection for another query; then the dead transaction's
      // callback, still running, issues one more.
      while (!beginSettled) await new Promise((r) => setTimeout(r, 20));
      // (The first query after the reconnect may still get the old backend's error.)
      for (let i = 0; i < 50; i++) {
        if (
          await sql.query("SELECT 1 AS reconnected").then(
            () => true,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      [late] = await Promise.allSettled([tx.query("INSERT INTO t VALUES (2)")]);
    });
    const outcome = await within(
      done.finally(() => {
        beginSettled = true;
      }),
      10_000,
      "the transaction",
    ).catch((e: unknown) => e);
    expect(isConnectionLost(outcome), String(outcome)).toBe(true);
    // The callback goes on after begin has failed; wait for its last step.
    const end = Date.now() + 10_000;
    while (!late && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(queued.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const r of queued)
      expect(isConnectionLost((r as PromiseRejectedResult).reason)).toBe(true);
    expect(late?.status).toBe("rejected");
    // Nothing of the transaction was written, before the kill or after it.
    expect(await admin.unsafe(`SELECT x FROM ${schema}.t`)).toEqual([]);
  });

  it("a committed transaction's handle runs nothing either", async () => {
    let handle: Sql | undefined;
    const result = await sql.begin(async (tx) => {
      handle = tx;
      return 7;
    });
    expect(result).toBe(7);
    await expect(handle!.query("INSERT INTO t VALUES (3)")).rejects.toThrow(/transaction/);
    expect(await admin.unsafe(`SELECT x FROM ${schema}.t`)).toEqual([]);
  });
});
