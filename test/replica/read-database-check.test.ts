// `serve --read-database-url` checks at start that the read database holds this log: its newest
// checkpoint has this log's origin, this log's key's signature and the root this log signed at that
// size. Every empty log has the same root, so a database holding another, empty log passed a check
// of size and root alone, and serve then answered with that log's checkpoint.
import { afterEach, describe, expect, it } from "vitest";
import { checkReadDatabase } from "../../src/api/log-server.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function db(): Promise<TestDb> {
  const d = await openTestDb();
  opened.push(d);
  return d;
}
async function primary(): Promise<TestLog> {
  const l = await openTestLog(); // has signed its empty tree
  opened.push(l);
  return l;
}
/** A database whose log (origin, signer key) has signed its empty tree. */
async function emptyLog(origin: string, signerKey: string): Promise<TestDb> {
  const d = await db();
  const p = new Publisher(d.sql, {
    origin,
    signer: parseSignerKey(signerKey),
    hasher: nodeHasher,
    intervalMs: 50,
  });
  await p.publish();
  return d;
}
const ours = { origin: ORIGIN, verifier: parseVerifierKey(TEST_KEY.verifierKey) };
const quiet = () => {};

describe("serve --read-database-url: the read database must hold this log", () => {
  it("refuses a database holding another, empty log (same size and root, other origin and key)", async () => {
    const log = await primary();
    const other = generateKey("other.example/log", new Uint8Array(32).fill(9));
    const read = await emptyLog("other.example/log", other.signerKey);
    await expect(checkReadDatabase(log.db.sql, read.sql, ours, quiet)).rejects.toThrow(
      /holds the log "other.example\/log", not "test.tmuxtrail\/log"/,
    );
  });

  it("refuses a log of the same origin signed by another key", async () => {
    const log = await primary();
    const impostor = generateKey(ORIGIN, new Uint8Array(32).fill(3));
    const read = await emptyLog(ORIGIN, impostor.signerKey);
    await expect(checkReadDatabase(log.db.sql, read.sql, ours, quiet)).rejects.toThrow(
      /not signed by this log's key/,
    );
  });

  it("refuses a read database with no checkpoint when this log has signed one", async () => {
    const log = await primary();
    const read = await db();
    await expect(checkReadDatabase(log.db.sql, read.sql, ours, quiet)).rejects.toThrow(
      /holds no checkpoint but this log has signed one/,
    );
  });

  it("accepts a read database with no checkpoint when this log is new too", async () => {
    const [p, read] = [await db(), await db()];
    await expect(checkReadDatabase(p.sql, read.sql, ours, quiet)).resolves.toBeUndefined();
  });

  it("accepts a copy of this log", async () => {
    const log = await primary();
    const read = await emptyLog(ORIGIN, TEST_KEY.signerKey);
    await expect(checkReadDatabase(log.db.sql, read.sql, ours, quiet)).resolves.toBeUndefined();
  });
});
