// failFast: while the database is known to be unreachable, queries fail at once with a 503-able
// error, one at a time probes it, and the first probe that reaches it ends the outage.
import { describe, expect, it } from "vitest";
import {
  DatabaseUnreachableError,
  failFast,
  isConnectionLost,
  type Sql,
} from "../../src/db/sql.ts";

/** A fake database whose next answers the test decides. */
function fake() {
  const pending: { resolve: (v: unknown[]) => void; reject: (e: unknown) => void }[] = [];
  const sql: Sql = {
    kind: "postgres",
    query: <T>() =>
      new Promise<T[]>((resolve, reject) =>
        pending.push({ resolve: (v) => resolve(v as T[]), reject }),
      ),
    begin: (fn) => fn(sql),
    close: async () => {},
  };
  return { sql, pending };
}

const lost = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("failFast", () => {
  it("fails queries at once while one probe is out, and recovers when a probe succeeds", async () => {
    const db = fake();
    const sql = failFast(db.sql);
    // Healthy: queries go through.
    const a = sql.query("SELECT 1");
    await tick();
    db.pending.shift()!.resolve([{ x: 1 }]);
    expect(await a).toEqual([{ x: 1 }]);
    // A lost connection marks the database down.
    const b = sql.query("SELECT 1");
    await tick();
    db.pending.shift()!.reject(lost());
    await expect(b).rejects.toMatchObject({ code: "ECONNRESET" });
    // The next query is the probe; the others meanwhile fail at once, as unreachable.
    const probe = sql.query("SELECT 1");
    const others = await Promise.allSettled([sql.query("SELECT 2"), sql.begin(async () => 1)]);
    for (const o of others) {
      expect(o.status).toBe("rejected");
      const e = (o as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(DatabaseUnreachableError);
      expect(isConnectionLost(e)).toBe(true);
    }
    expect(db.pending).toHaveLength(1);
    // The probe fails too: still down, and the next query probes again.
    db.pending.shift()!.reject(lost());
    await expect(probe).rejects.toMatchObject({ code: "ECONNRESET" });
    const probe2 = sql.query("SELECT 1");
    await tick();
    db.pending.shift()!.resolve([]);
    await probe2;
    // Back: everything goes through again.
    const c = sql.query("SELECT 3");
    const d = sql.query("SELECT 4");
    await tick();
    expect(db.pending).toHaveLength(2);
    for (const p of db.pending.splice(0)) p.resolve([]);
    await Promise.all([c, d]);
  });

  it("a probe that reaches the database with an error of its own ends the outage", async () => {
    const db = fake();
    const sql = failFast(db.sql);
    const a = sql.query("SELECT 1");
    await tick();
    db.pending.shift()!.reject(lost());
    await expect(a).rejects.toBeDefined();
    const probe = sql.query("SELECT nope");
    await tick();
    db.pending.shift()!.reject(Object.assign(new Error("syntax"), { code: "42601" }));
    await expect(probe).rejects.toMatchObject({ code: "42601" });
    const b = sql.query("SELECT 1");
    const c = sql.query("SELECT 2");
    await tick();
    expect(db.pending).toHaveLength(2);
    for (const p of db.pending.splice(0)) p.resolve([]);
    await Promise.all([b, c]);
  });

  it("a probe that does not settle within the window does not block the next one", async () => {
    const db = fake();
    const sql = failFast(db.sql, 30);
    const a = sql.query("SELECT 1");
    await tick();
    db.pending.shift()!.reject(lost());
    await expect(a).rejects.toBeDefined();
    const stuck = sql.query("SELECT 1"); // the probe: never answered
    await expect(sql.query("SELECT 2")).rejects.toBeInstanceOf(DatabaseUnreachableError);
    await new Promise((r) => setTimeout(r, 40));
    const next = sql.query("SELECT 3"); // a new probe, past the window
    await tick();
    expect(db.pending).toHaveLength(2);
    db.pending.splice(1, 1)[0]!.resolve([]);
    await next;
    // Back: queries go through, the stuck one is still the driver's business.
    const b = sql.query("SELECT 4");
    await tick();
    expect(db.pending).toHaveLength(2);
    for (const p of db.pending.splice(0)) p.resolve([]);
    await Promise.all([b, stuck]);
  });
});
