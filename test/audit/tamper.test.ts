// The tamper drill (PostgreSQL only: a superuser turns the append-only triggers off for one
// transaction, as `SET session_replication_role = replica` does). Each kind of tampering fails
// the audit, and the first finding names what was touched: the leaf index, the tile, the
// checkpoint size or the stream.
import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/audit/findings.ts";
import { compress } from "../../src/db/batch-codec.ts";
import type { Sql } from "../../src/db/sql.ts";
import { usingPostgres } from "../support/db.ts";
import { openTestLog } from "../support/log.ts";
import { asSuperuser, audit, deletePayload, editPart, fill, placeOf } from "./helpers.ts";

const batchOf = (i: number) => `(SELECT batch FROM leaves WHERE idx = ${i})`;

/** The first index whose bytes are in leaf `i`'s batch. */
async function firstOfBatch(sql: Sql, i: number): Promise<number> {
  const { batch } = await placeOf(sql, i);
  const [r] = await sql.query<{ idx: number }>(
    "SELECT min(idx) AS idx FROM leaves WHERE batch = $1",
    [batch],
  );
  return r!.idx;
}

async function tampered(
  statements: string[] | ((sql: Sql) => Promise<string[]>),
): Promise<Finding> {
  const log = await openTestLog();
  try {
    await fill(log, 600);
    await log.ctx.publisher.stop();
    const before = await audit(log);
    expect(before.findings).toEqual([]);
    const sql = log.db.sql;
    await asSuperuser(sql, typeof statements === "function" ? await statements(sql) : statements);
    const r = await audit(log);
    expect(r.ok).toBe(false);
    return r.findings[0]!;
  } finally {
    await log.close();
  }
}

describe.runIf(usingPostgres)("tamper drill: a superuser edits storage, audit names it", () => {
  // The newest checkpoint of a filled log covers all of it: 3 panes of 200 events, 2 opaque leaves.
  const checkpointSize = 3 * 200 + 2;

  // A byte of a part is a byte of the inflated part: the batch is recompressed around it.
  const flip = (at: number) => (slots: unknown[], slot: number) => {
    (slots[slot] as Uint8Array)[at]! ^= 1;
  };

  it("one byte of a leaf in its batch: the leaf index", async () => {
    const f = await tampered(async (sql) => [await editPart(sql, 301, "leaves", flip(20))]);
    expect(f).toMatchObject({ kind: "leaf", index: 301 });
  });

  it("one byte of an opaque leaf in its batch: the leaf index", async () => {
    const f = await tampered(async (sql) => [await editPart(sql, 300, "leaves", flip(3))]);
    expect(f).toMatchObject({ kind: "leaf", index: 300 });
  });

  it("one byte of a hash tile: the tile", async () => {
    const f = await tampered([
      "UPDATE tiles SET hashes = set_byte(hashes, 40, get_byte(hashes, 40) # 1) WHERE level = 0 AND idx = 1",
    ]);
    expect(f).toMatchObject({ kind: "tile", tile: "0/1", index: 257 });
  });

  it("one byte of an upper-level tile: the tile", async () => {
    const f = await tampered([
      "UPDATE tiles SET hashes = set_byte(hashes, 33, get_byte(hashes, 33) # 1) WHERE level = 1 AND idx = 0",
    ]);
    expect(f).toMatchObject({ kind: "tile", tile: "1/0" });
  });

  it("one byte of a stored checkpoint's note: the checkpoint", async () => {
    const f = await tampered([
      `UPDATE checkpoints SET note = overlay(note placing 'X' from 1 for 1) WHERE size = ${checkpointSize}`,
    ]);
    expect(f).toMatchObject({ kind: "checkpoint", size: checkpointSize });
  });

  it("a checkpoint row whose root was rewritten with its note kept: the checkpoint", async () => {
    const f = await tampered([
      `UPDATE checkpoints SET root = sha256(root) WHERE size = ${checkpointSize}`,
    ]);
    expect(f).toMatchObject({ kind: "checkpoint", size: checkpointSize });
  });

  it("one byte of a payload's content: the leaf index", async () => {
    const f = await tampered(async (sql) => [
      await editPart(sql, 123, "contents", (slots, slot) => {
        (slots[slot] as { content: Uint8Array }).content[0]! ^= 1;
      }),
    ]);
    expect(f).toMatchObject({ kind: "payload", index: 123 });
  });

  it("a payload moved to another slot of its batch: the leaf index", async () => {
    const f = await tampered(async (sql) => [
      await editPart(sql, 124, "contents", (slots, slot) => {
        const other = slots.findIndex((p, j) => p !== null && j !== slot);
        slots[slot] = slots[other]!;
      }),
    ]);
    expect(f).toMatchObject({ kind: "payload", index: 124 });
  });

  it("a deleted leaf row: the leaf index", async () => {
    const f = await tampered(["DELETE FROM leaves WHERE idx = 200"]);
    expect(f).toMatchObject({ kind: "leaf", index: 200 });
  });

  it("a leaf's slot pointed past its batch: the leaf index", async () => {
    const f = await tampered(["UPDATE leaves SET slot = 100000 WHERE idx = 450"]);
    expect(f).toMatchObject({ kind: "leaf", index: 450 });
    expect(f.message).toContain("has no slot 100000");
  });

  it("a deleted batch: the first leaf it held", async () => {
    let first = -1;
    const f = await tampered(async (sql) => {
      first = await firstOfBatch(sql, 450);
      return [`DELETE FROM batches WHERE id = ${batchOf(450)}`];
    });
    expect(f).toMatchObject({ kind: "leaf", index: first });
    expect(f.message).toMatch(/batch \d+ is not stored/);
  });

  it("a leaves part that does not inflate: the first leaf it held", async () => {
    let first = -1;
    const f = await tampered(async (sql) => {
      first = await firstOfBatch(sql, 450);
      return [`UPDATE batches SET leaves = '\\x00ff00ff' WHERE id = ${batchOf(450)}`];
    });
    expect(f).toMatchObject({ kind: "leaf", index: first });
    expect(f.message).toContain("does not inflate");
  });

  it("a contents part whose framing does not add up: the first payload it held", async () => {
    let first = -1;
    const f = await tampered(async (sql) => {
      first = await firstOfBatch(sql, 123);
      const [row] = await sql.query<{ codec: number }>(
        `SELECT codec FROM batches WHERE id = ${batchOf(123)}`,
      );
      const bad = Buffer.from(await compress(new Uint8Array([0, 0, 0, 9]), row!.codec));
      return [
        `UPDATE batches SET contents = '\\x${bad.toString("hex")}', version = version + 1 WHERE id = ${batchOf(123)}`,
      ];
    });
    expect(f).toMatchObject({ kind: "payload" });
    expect(f.index).toBeGreaterThanOrEqual(first);
    expect(f.message).toContain("cannot be read");
  });

  it("a batch in the tree marked not integrated: the first leaf it held", async () => {
    let first = -1;
    const f = await tampered(async (sql) => {
      first = await firstOfBatch(sql, 450);
      return [`UPDATE batches SET integrated = false WHERE id = ${batchOf(450)}`];
    });
    expect(f).toMatchObject({ kind: "leaf", index: first });
    expect(f.message).toContain("not marked integrated");
  });

  it("two leaves swapped (their leaf hashes): the first of them", async () => {
    // Through a placeholder: leaves.leaf_hash is unique.
    const f = await tampered([
      "CREATE TEMP TABLE swap ON COMMIT DROP AS SELECT idx, leaf_hash FROM leaves WHERE idx IN (100, 101)",
      "UPDATE leaves SET leaf_hash = '\\x00' WHERE idx = 100",
      "UPDATE leaves SET leaf_hash = (SELECT leaf_hash FROM swap WHERE idx = 100) WHERE idx = 101",
      "UPDATE leaves SET leaf_hash = (SELECT leaf_hash FROM swap WHERE idx = 101) WHERE idx = 100",
    ]);
    expect(f).toMatchObject({ kind: "leaf", index: 100 });
  });

  it("a tampered stream column: the leaf index", async () => {
    const f = await tampered(["UPDATE leaves SET seq = 9999 WHERE idx = 42"]);
    expect(f).toMatchObject({ kind: "leaf", index: 42 });
  });

  it("an event's columns emptied and its payload deleted: the leaf index", async () => {
    const f = await tampered(async (sql) => [
      'UPDATE leaves SET host = NULL, server = NULL, pane = NULL, seq = NULL, session = NULL, type = NULL, "user" = NULL, time = NULL WHERE idx = 250',
      await editPart(sql, 250, "contents", (slots, slot) => {
        slots[slot] = null;
      }),
    ]);
    expect(f).toMatchObject({ kind: "leaf", index: 250 });
    expect(f.message).toContain("column host is null");
  });

  it("a payload deleted with no erasure event: the leaf index", async () => {
    const log = await openTestLog();
    try {
      await fill(log, 600);
      await deletePayload(log.db.sql, 77);
      const r = await audit(log);
      expect(r.ok).toBe(false);
      expect(r.findings[0]).toMatchObject({ kind: "payload", index: 77 });
    } finally {
      await log.close();
    }
  });

  it("log_state rewound (size and root of an earlier tree): the state, and the checkpoints beyond it", async () => {
    const log = await openTestLog();
    try {
      await fill(log, 600);
      await log.ctx.publisher.stop();
      await asSuperuser(log.db.sql, ["UPDATE log_state SET size = 500"]);
      const r = await audit(log);
      expect(r.ok).toBe(false);
      const kinds = r.findings.map((f) => f.kind);
      expect(kinds).toContain("state");
      expect(kinds).toContain("checkpoint");
      expect(kinds).toContain("tile");
    } finally {
      await log.close();
    }
  });
});
