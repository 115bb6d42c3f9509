// The publisher never signs over storage that disagrees with what was signed, and a log whose
// storage and newest checkpoint disagree refuses to start, saying what disagrees.
import { afterEach, expect, it } from "vitest";
import { formatCheckpoint } from "../../src/core/checkpoint.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { StorageMismatchError, verifyStorage } from "../../src/server/publisher.ts";
import { ORIGIN, openFilledLog, TEST_KEY, type TestLog } from "../support/log.ts";

let log: TestLog | undefined;
afterEach(async () => {
  await log?.close();
  log = undefined;
});

async function filled() {
  log = await openFilledLog(20);
  await verifyStorage(log.db.sql, nodeHasher);
  return log;
}

it("a checkpoint whose root the stored tiles do not reproduce stops the start, naming both roots", async () => {
  const l = await filled();
  // A checkpoint of size 10 signed over another root (as if storage had been rewritten).
  const size = 10;
  const root = new Uint8Array(32).fill(9);
  const note = signNote(formatCheckpoint({ origin: ORIGIN, size, root }), [
    parseSignerKey(TEST_KEY.signerKey),
  ]);
  await l.db.sql.query(
    "INSERT INTO checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [size + 1000, root, note],
  );
  const err = await verifyStorage(l.db.sql, nodeHasher).catch((e) => e);
  expect(err).toBeInstanceOf(StorageMismatchError);
  expect((err as Error).message).toMatch(
    /newest checkpoint has size 1010 but storage holds only 20 leaves/,
  );
});

it("tiles that no longer match log_state stop the start and stop the publisher", async () => {
  const l = await filled();
  // A superuser rewrites one leaf hash in a tile, triggers off.
  await l.db.sql.query("ALTER TABLE tiles DISABLE TRIGGER USER");
  await l.db.sql.query(
    "UPDATE tiles SET hashes = '\\x00'::bytea || substring(hashes FROM 2) WHERE level = 0 AND idx = 0",
  );
  const err = await verifyStorage(l.db.sql, nodeHasher).catch((e) => e);
  expect(err).toBeInstanceOf(StorageMismatchError);
  expect((err as Error).message).toMatch(/the hash tiles give root .* but log_state holds/);
  // The publisher refuses to sign a grown tree over it.
  await l.ctx.publisher.stop();
  await l.req("/v1/leaves", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream" },
    body: new Uint8Array([1]),
  });
  await expect(l.ctx.publisher.publish()).rejects.toBeInstanceOf(StorageMismatchError);
});
