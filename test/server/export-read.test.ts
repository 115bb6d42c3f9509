// Reading a session's bytes from storage v2's batches (src/server/export.ts readEvents): a read
// that spans many batches is cut so no BatchStore read inflates more than 16 of them at once, and
// gives back what one read of all of them gives, in order; a leaf whose batch is gone is a 500,
// never an answer without it.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BatchStore, type SlotRef } from "../../src/db/batch-store.ts";
import { readEvents } from "../../src/server/export.ts";
import { makeBatch } from "../support/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";

let log: TestLog;
let refs: (SlotRef & { idx: number })[];

beforeAll(async () => {
  log = await openTestLog();
  // One request at a time: each is staged in its own batch. Two panes, so a session's events
  // alternate with another's.
  for (let i = 0; i < 40; i++) {
    const res = await log.req("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(makeBatch(1, i, { pane: `%${i % 2}` })),
    });
    expect(res.status).toBe(200);
  }
  refs = await log.db.sql.query<SlotRef & { idx: number }>(
    "SELECT idx, batch, slot FROM leaves WHERE pane IN ('%0', '%1') ORDER BY idx",
  );
}, 60_000);
afterAll(() => log.close());

describe("readEvents", () => {
  it("reads many batches at most 16 at a time, and answers as one read would, in order", async () => {
    expect(new Set(refs.map((r) => r.batch)).size).toBe(40);
    const store = new BatchStore(log.db.sql);
    const spy = vi.spyOn(store, "events");
    const got = await readEvents(store, refs);
    expect(spy.mock.calls.length).toBe(3);
    for (const [part] of spy.mock.calls) {
      expect(new Set(part.map((r) => r.batch)).size).toBeLessThanOrEqual(16);
    }
    spy.mockRestore();
    const once = await new BatchStore(log.db.sql).events(refs);
    expect(got).toEqual(once);
    expect(got.every((e) => e.payload !== null)).toBe(true);
    const leavesOnly = await readEvents(store, refs, false);
    expect(leavesOnly.map((e) => e.leaf)).toEqual(once.map((e) => e.leaf));
    expect(leavesOnly.every((e) => e.payload === null)).toBe(true);
  });

  it("a leaf whose batch a superuser deleted is a 500, not an entry without its bytes", async () => {
    const victim = refs[7]!;
    await log.db.sql.begin(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = replica");
      await tx.query("DELETE FROM batches WHERE id = $1", [victim.batch]);
    });
    // The log's own store never read this batch: no cached copy stands in for it.
    const res = await log.req(`/v1/entries/${victim.idx}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("internal");
    const page = await log.req(`/v1/entries?from=0&limit=100`);
    expect(page.status).toBe(500);
    const bundle = await log.req(`/tile/entries/000.p/${refs.length}`);
    expect(bundle.status).toBe(500);
  });
});
