// Upgrading a log that erased content before erased_leaves existed (drizzle/0003_erased_leaves.sql):
// the migration records every leaf one of the log's own erasure events names and whose payload is
// gone, and from then on a retry of such an event stores no content. What no own erasure event
// explains (a payload deleted by a tamperer, a forged erasure, a range past its event) is left for
// `audit` to report, not marked erased; a payload an event names but that is still there (a crash
// between the event and the deletion) is not erased yet.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { type EventMeta, eventLeaf, parseSubmission } from "../../src/core/events.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import {
  initLogState,
  LOG_MIGRATIONS,
  migratePgliteDb,
  migratePostgresUrl,
} from "../../src/db/migrate.ts";
import { connectPostgres, openPglite, type Sql } from "../../src/db/sql.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { OwnEventWriter } from "../../src/server/own-event-writer.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { makeSubmission } from "../support/events.ts";
import { ORIGIN, TEST_KEY } from "../support/log.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The log's migrations as they were before 0003: a copy of drizzle/ without it. */
function migrationsBefore0003(): typeof LOG_MIGRATIONS {
  const dir = join(mkdtempSync(join(tmpdir(), "tt-pre-0003-")), "drizzle");
  cpSync(join(root, "drizzle"), dir, { recursive: true });
  rmSync(join(dir, "witness"), { recursive: true });
  rmSync(join(dir, "0003_erased_leaves.sql"));
  rmSync(join(dir, "meta", "0003_snapshot.json"));
  const journalFile = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8"));
  journal.entries = journal.entries.filter((e: { idx: number }) => e.idx < 3);
  writeFileSync(journalFile, JSON.stringify(journal));
  cleanups.push(async () => rmSync(join(dir, ".."), { recursive: true, force: true }));
  return { ...LOG_MIGRATIONS, folder: dir };
}

/** A database at the schema before 0003, and how to bring it to the current one. */
async function oldDatabase(): Promise<{ sql: Sql; upgrade(): Promise<void> }> {
  const old = migrationsBefore0003();
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `t_${Math.random().toString(16).slice(2, 14)}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    await migratePostgresUrl(url, schema, old);
    const sql = connectPostgres(url, { schema, max: 4 });
    cleanups.push(async () => {
      await sql.close();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end({ timeout: 5 });
    });
    await initLogState(sql);
    return { sql, upgrade: () => migratePostgresUrl(url, schema) };
  }
  const { sql, pg } = await openPglite();
  cleanups.push(() => sql.close());
  await migratePgliteDb(pg, old);
  await initLogState(sql);
  return { sql, upgrade: () => migratePgliteDb(pg) };
}

it("migration 0003 marks erased exactly the leaves the log's own erasure events erased, and keeps them erased", {
  timeout: 60_000,
}, async () => {
  const { sql, upgrade } = await oldDatabase();
  const sequencer = new Sequencer(sql, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
  const ownEvents = new OwnEventWriter(sql, sequencer, ORIGIN, nodeHasher);
  const publisher = new Publisher(sql, {
    origin: ORIGIN,
    signer: parseSignerKey(TEST_KEY.signerKey),
    hasher: nodeHasher,
    intervalMs: 60_000,
  });
  const submitted = new Map<number, Record<string, unknown>>();
  const submit = async (n: number, from: number) => {
    const subs = Array.from({ length: n }, (_, i) =>
      makeSubmission({ seq: from + i, pane: "%old" }),
    );
    const inputs = subs.map((s) => {
      const p = parseSubmission(s, nodeHasher.digest);
      return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
    });
    const r = await sequencer.submit(inputs);
    for (const [i, x] of r.entries()) submitted.set(x.index, subs[i]!);
    return r.map((x) => x.index);
  };
  const hashOf = async (idx: number) =>
    (
      await sql.query<{ leaf_hash: Uint8Array }>("SELECT leaf_hash FROM leaves WHERE idx = $1", [
        idx,
      ])
    )[0]!.leaf_hash;
  // What `erase` did before 0003: the event, then a plain DELETE.
  const deletePayload = async (idx: number) =>
    sql.query("DELETE FROM payloads WHERE leaf_hash = $1", [await hashOf(idx)]);

  try {
    const [a0, a1, a2, a3] = await submit(4, 0);
    // An erasure by the log, whose second range reaches past the event itself.
    const e1 = await ownEvents.erasure("admin", "gdpr", [
      [a0!, a1!],
      [a3! + 2, a3! + 50],
    ]);
    await deletePayload(a0!);
    await deletePayload(a1!);
    // Named by the log, but the process stopped before deleting: not erased yet.
    await ownEvents.erasure("admin", "gdpr", [[a2!, a2!]]);
    // A forged erasure outside the log's stream, and the payload a tamperer deleted with it.
    const forged: EventMeta = {
      v: 1,
      host: "web-1",
      server: "log",
      session: "log",
      window: "-",
      pane: "erasure",
      user: "mallory",
      seq: 0,
      time: "2026-11-24T19:00:00.000Z",
      type: "erasure",
      erasure: { indexes: [[a3!, a3!]], key: "mallory", reason: "hide it" },
    };
    await sequencer.submit([eventInput(forged, eventLeaf(forged), nodeHasher)]);
    await deletePayload(a3!);
    // A leaf after e1 that e1's second range names: no event can erase what follows it.
    const [late] = await submit(1, 4);
    expect(late!).toBeGreaterThan(e1);
    await deletePayload(late!);
    await publisher.publish();

    await upgrade();

    const marked = (
      await sql.query<{ leaf_hash: Uint8Array }>("SELECT leaf_hash FROM erased_leaves")
    ).map((r) => hexEncode(r.leaf_hash));
    expect(marked.sort()).toEqual(
      [hexEncode(await hashOf(a0!)), hexEncode(await hashOf(a1!))].sort(),
    );

    // A retry of an erased event after the upgrade: a duplicate at its index, with no content.
    const p = parseSubmission(submitted.get(a0!)!, nodeHasher.digest);
    const [retry] = await sequencer.submit([
      eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! }),
    ]);
    expect(retry).toMatchObject({ index: a0, duplicate: true });
    const content = async (idx: number) =>
      sql.query("SELECT 1 FROM payloads WHERE leaf_hash = $1", [await hashOf(idx)]);
    expect(await content(a0!)).toEqual([]);
    // Content for a leaf that was never erased can still be stored (here: the tampered one,
    // restored by its agent's retry).
    await sql.query("INSERT INTO payloads (leaf_hash, salt, content) VALUES ($1, $2, $3)", [
      await hashOf(a3!),
      new Uint8Array(32),
      utf8Encode("restored"),
    ]);
    expect(await content(a3!)).toHaveLength(1);
    // The record itself is append-only.
    await expect(sql.query("DELETE FROM erased_leaves")).rejects.toThrow(/append-only/);
  } finally {
    await sequencer.close();
    await publisher.stop();
  }
});
