// The tamper drill (PostgreSQL only: a superuser turns the append-only triggers off for one
// transaction, as `SET session_replication_role = replica` does). Each kind of tampering fails
// the audit, and the first finding names what was touched: the leaf index, the tile, the
// checkpoint size or the stream.
import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/audit/findings.ts";
import { usingPostgres } from "../support/db.ts";
import { openTestLog } from "../support/log.ts";
import { asSuperuser, audit, deletePayload, fill } from "./helpers.ts";

const leaf = (i: number) => `(SELECT leaf_hash FROM leaves WHERE idx = ${i})`;

async function tampered(statements: string[]): Promise<Finding> {
  const log = await openTestLog();
  try {
    await fill(log, 600);
    await log.ctx.publisher.stop();
    const before = await audit(log);
    expect(before.findings).toEqual([]);
    await asSuperuser(log.db.sql, statements);
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

  it("one byte of a leaf's entry: the leaf index", async () => {
    const f = await tampered([
      `UPDATE entries SET leaf = set_byte(leaf, 20, get_byte(leaf, 20) # 1) WHERE leaf_hash = ${leaf(301)}`,
    ]);
    expect(f).toMatchObject({ kind: "leaf", index: 301 });
  });

  it("one byte of an opaque leaf: the leaf index", async () => {
    const f = await tampered([
      `UPDATE entries SET leaf = set_byte(leaf, 3, get_byte(leaf, 3) # 1) WHERE leaf_hash = ${leaf(300)}`,
    ]);
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
    const f = await tampered([
      `UPDATE payloads SET content = set_byte(content, 0, get_byte(content, 0) # 1) WHERE leaf_hash = ${leaf(123)}`,
    ]);
    expect(f).toMatchObject({ kind: "payload", index: 123 });
  });

  it("a deleted leaf row: the leaf index", async () => {
    const f = await tampered(["DELETE FROM leaves WHERE idx = 200"]);
    expect(f).toMatchObject({ kind: "leaf", index: 200 });
  });

  it("a deleted entries row: the leaf index", async () => {
    const f = await tampered([`DELETE FROM entries WHERE leaf_hash = ${leaf(450)}`]);
    expect(f).toMatchObject({ kind: "leaf", index: 450 });
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
    const f = await tampered([
      'UPDATE leaves SET host = NULL, server = NULL, pane = NULL, seq = NULL, session = NULL, type = NULL, "user" = NULL, time = NULL WHERE idx = 250',
      `DELETE FROM payloads WHERE leaf_hash = ${leaf(250)}`,
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
