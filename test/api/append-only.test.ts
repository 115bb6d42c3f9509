// The database refuses every change to evidence that is not an append (docs/design.md §4.3).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFilledLog, type TestLog } from "../support/log.ts";

let log: TestLog;
beforeAll(async () => {
  log = await openFilledLog(3);
});
afterAll(() => log.close());

const refused = (sql: string, params: unknown[] = []) =>
  expect(log.db.sql.query(sql, params)).rejects.toThrow(
    /append-only|may only be extended|may not shrink|only be revoked|refused|may not be deleted/,
  );

describe("append-only triggers", () => {
  it("refuse any change of a batch but a versioned contents rewrite, and DELETE of one in the tree", async () => {
    const [b] = await log.db.sql.query<{ id: number; contents: Uint8Array }>(
      "SELECT id, contents FROM batches WHERE integrated ORDER BY id LIMIT 1",
    );
    const id = b!.id;
    await refused("UPDATE batches SET leaves = contents WHERE id = $1", [id]);
    await refused("UPDATE batches SET leaves = leaves || '\\x00'::bytea WHERE id = $1", [id]);
    await refused("UPDATE batches SET count = count + 1 WHERE id = $1", [id]);
    await refused("UPDATE batches SET staged_at = now() WHERE id = $1", [id]);
    await refused("UPDATE batches SET contents = '\\x00'::bytea WHERE id = $1", [id]);
    await refused("UPDATE batches SET version = version - 1 WHERE id = $1", [id]);
    await refused("UPDATE batches SET integrated = false WHERE id = $1", [id]);
    await refused("DELETE FROM batches WHERE id = $1", [id]);
    // Erasure's rewrite: the contents part changes with its version raised (here, unchanged).
    await log.db.sql.query(
      "UPDATE batches SET contents = $2, version = version + 1 WHERE id = $1",
      [id, b!.contents],
    );
  });
  it("allow DELETE of a batch that never entered the tree", async () => {
    const [b] = await log.db.sql.query<{ id: number }>(
      `INSERT INTO batches (codec, count, leaves, contents)
       SELECT codec, count, leaves, contents FROM batches ORDER BY id LIMIT 1 RETURNING id`,
    );
    await log.db.sql.query("DELETE FROM batches WHERE id = $1", [b!.id]);
  });
  it("refuse UPDATE and DELETE of leaves, but for setting a v1 leaf's place once", async () => {
    await refused("UPDATE leaves SET idx = idx + 100");
    await refused("DELETE FROM leaves WHERE idx = 0");
    await refused("UPDATE leaves SET slot = slot + 1 WHERE idx = 0");
    await refused("UPDATE leaves SET batch = NULL, slot = NULL WHERE idx = 0");
    // A v1 leaf, as the upgrade finds it: no place yet, given one once.
    const [l] = await log.db.sql.query<{ batch: number; slot: number }>(
      "SELECT batch, slot FROM leaves WHERE idx = 0",
    );
    // A new leaf must name its place (drizzle/0006's CHECK); a v1 leaf predates the rule, as if
    // the rule were added after it (NOT VALID: rows already there are not checked).
    const v1Leaf = `INSERT INTO leaves (idx, leaf_hash) SELECT size + 1000, sha256('v1 leaf') FROM log_state`;
    await expect(log.db.sql.query(v1Leaf)).rejects.toThrow(/leaves_placed/);
    await log.db.sql.begin(async (tx) => {
      await tx.query("ALTER TABLE leaves DROP CONSTRAINT leaves_placed");
      await tx.query(v1Leaf);
      await tx.query(
        "ALTER TABLE leaves ADD CONSTRAINT leaves_placed CHECK (batch IS NOT NULL AND slot IS NOT NULL) NOT VALID",
      );
    });
    await log.db.sql.query(
      "UPDATE leaves SET batch = $1, slot = $2 WHERE leaf_hash = sha256('v1 leaf')",
      [l!.batch, l!.slot],
    );
    await refused("UPDATE leaves SET slot = slot WHERE leaf_hash = sha256('v1 leaf')");
    await refused("UPDATE leaves SET leaf_hash = sha256('x') WHERE leaf_hash = sha256('v1 leaf')");
  });
  it("refuse UPDATE and DELETE of checkpoints", async () => {
    await refused("UPDATE checkpoints SET note = 'x'");
    await refused("DELETE FROM checkpoints");
  });
  it("refuse a tile change that is not an extension", async () => {
    await refused(
      "UPDATE tiles SET hashes = substring(hashes FROM 33) WHERE level = 0 AND idx = 0",
    );
    await refused(
      "UPDATE tiles SET hashes = '\\x00'::bytea || substring(hashes FROM 2) WHERE level = 0 AND idx = 0",
    );
    await refused("DELETE FROM tiles");
  });
  it("refuse shrinking the tree in log_state", async () => {
    await refused("UPDATE log_state SET size = 0");
  });
  it("refuse TRUNCATE of evidence tables", async () => {
    for (const t of [
      "batches",
      "leaves",
      "checkpoints",
      "tiles",
      "command_payloads",
      "erased_leaves",
      "cosignatures",
      "log_state",
    ]) {
      await refused(`TRUNCATE ${t}`);
    }
  });
  it("refuse UPDATE of command_payloads but allow their DELETE (erasure)", async () => {
    await log.db.sql.query(
      "INSERT INTO command_payloads (leaf_hash, content) VALUES (sha256('cmd'), '\\x6c73')",
    );
    await refused("UPDATE command_payloads SET content = '\\x00'::bytea");
    await log.db.sql.query("DELETE FROM command_payloads WHERE leaf_hash = sha256('cmd')");
  });
  it("refuse API key changes other than revocation", async () => {
    await log.ctx.auth.create("k", ["read"], null);
    await refused("UPDATE api_keys SET scopes = '{admin}'");
    await refused("DELETE FROM api_keys");
  });
});
