// The database audit on logs that were not tampered with, in both storage modes: everything the
// log committed to holds, opaque leaves and out-of-order streams included; a deleted payload is
// honoured only when a later erasure event names it.
import { afterEach, describe, expect, it } from "vitest";
import { auditDatabase } from "../../src/audit/db-audit.ts";
import type { AuditReport } from "../../src/audit/report.ts";
import { generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { makeBatch } from "../support/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";
import { appendErasure, audit, deletePayload, fill, fillFast, postEvents } from "./helpers.ts";

let log: TestLog | undefined;
afterEach(async () => {
  await log?.close();
  log = undefined;
});

describe("audit of the database", () => {
  it("an untouched log holds: every leaf, tile, checkpoint, stream and payload", async () => {
    log = await openTestLog();
    const size = await fill(log, 700);
    const r = await audit(log, 256);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r).toMatchObject({ size, leaves: size, streams: 3, payloads: size - 2, erased: 0 });
    // 0/0, 0/1 full; 0/2 partial; 1/0 partial.
    expect(r.tiles).toBe(4);
    expect(r.checkpoints).toBeGreaterThanOrEqual(2);
  });

  it("the empty log holds (its size-0 checkpoint is checked)", async () => {
    log = await openTestLog();
    const r = await audit(log);
    expect(r).toMatchObject({ ok: true, size: 0, leaves: 0, tiles: 0, checkpoints: 1 });
  });

  it("a log past 65536 leaves: full tiles at two levels, partial tiles at three", async () => {
    log = await openTestLog({ batchMax: 4000 });
    await fillFast(log, 66_000);
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    // 257 full + 1 partial level-0 tiles, 1 full + 1 partial level-1 tiles, 1 partial level-2.
    expect(r.tiles).toBe(257 + 1 + 1 + 1 + 1);
  }, 60_000);

  it("checkpoints signed by another key fail the audit, naming the first checkpoint", async () => {
    log = await openTestLog();
    await fill(log, 30);
    const other = parseVerifierKey(
      generateKey("someone-else", new Uint8Array(32).fill(9)).verifierKey,
    );
    const r = await auditDatabase(log.db.sql, { verifiers: [other] });
    expect(r.ok).toBe(false);
    expect(r.findings[0]).toMatchObject({ kind: "checkpoint", size: 0 });
  });

  it("a payload deleted after an erasure event naming it is honoured", async () => {
    log = await openTestLog();
    const size = await fill(log, 60);
    await appendErasure(log, 0, [
      [3, 5],
      [10, 10],
    ]);
    for (const i of [3, 4, 5, 10]) await deletePayload(log.db.sql, i);
    await log.ctx.publisher.waitFor(size + 1, 10_000);
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ ok: true, erased: 4, streams: 4 });
  });

  it("one reader and three readers on one snapshot find the same, and miss what came after it", async () => {
    log = await openTestLog();
    const size = await fill(log, 1500);
    await deletePayload(log.db.sql, 700);
    const without = (r: AuditReport) => ({ ...r, elapsedMs: 0 });
    const one = await audit(log, 256, 1);
    // While the three-reader audit runs, the log grows: the audit keeps to its snapshot.
    const [three] = await Promise.all([
      audit(log, 256, 3),
      postEvents(log, makeBatch(50, 0, { host: "late-1" })),
    ]);
    expect(one.findings).toEqual([expect.objectContaining({ kind: "payload", index: 700 })]);
    expect(without(three)).toEqual(without(one));
    expect(three.size).toBe(size);
  });

  it("a payload deleted without an erasure event naming it fails, naming the leaf", async () => {
    log = await openTestLog();
    await fill(log, 60);
    await appendErasure(log, 0, [[3, 5]]);
    await deletePayload(log.db.sql, 4);
    await deletePayload(log.db.sql, 7);
    const r = await audit(log);
    expect(r.ok).toBe(false);
    expect(r.erased).toBe(1);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ kind: "payload", index: 7 });
  });

  it("an erasure event cannot excuse a deletion of a leaf sequenced after it", async () => {
    log = await openTestLog();
    const size = await fill(log, 30);
    const at = await appendErasure(log, 0, [[0, size + 5]]);
    const [later] = await postEvents(log, makeBatch(1, 100, { pane: "%1" }).slice(0, 1));
    await deletePayload(log.db.sql, later!.index);
    await deletePayload(log.db.sql, 2);
    const r = await audit(log);
    expect(at).toBe(size);
    expect(r.erased).toBe(1);
    expect(r.findings.map((f) => [f.kind, f.index])).toContainEqual(["payload", later!.index]);
  });
});
