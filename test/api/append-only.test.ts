// The database refuses every change to evidence that is not an append (docs/design.md §4.3).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFilledLog, type TestLog } from "../support/log.ts";

let log: TestLog;
beforeAll(async () => {
  log = await openFilledLog(3);
});
afterAll(() => log.close());

const refused = (sql: string) =>
  expect(log.db.sql.query(sql)).rejects.toThrow(
    /append-only|may only be extended|may not shrink|only be revoked/,
  );

describe("append-only triggers", () => {
  it("refuse UPDATE and DELETE of entries", async () => {
    await refused("UPDATE entries SET leaf = '\\x00'::bytea");
    await refused("DELETE FROM entries");
  });
  it("refuse UPDATE and DELETE of leaves", async () => {
    await refused("UPDATE leaves SET idx = idx + 100");
    await refused("DELETE FROM leaves WHERE idx = 0");
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
      "entries",
      "leaves",
      "checkpoints",
      "tiles",
      "payloads",
      "cosignatures",
      "log_state",
    ]) {
      await refused(`TRUNCATE ${t}`);
    }
  });
  it("refuse UPDATE of payloads but allow their DELETE (erasure)", async () => {
    await refused("UPDATE payloads SET content = '\\x00'::bytea");
    const [row] = await log.db.sql.query<{ leaf_hash: Uint8Array }>(
      "SELECT leaf_hash FROM payloads LIMIT 1",
    );
    await log.db.sql.query("DELETE FROM payloads WHERE leaf_hash = $1", [row!.leaf_hash]);
  });
  it("refuse API key changes other than revocation", async () => {
    await log.ctx.auth.create("k", ["read"], null);
    await refused("UPDATE api_keys SET scopes = '{admin}'");
    await refused("DELETE FROM api_keys");
  });
});
