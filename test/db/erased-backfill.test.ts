// Upgrading a log that erased content before erased_leaves existed (drizzle/0003_erased_leaves.sql):
// the migration records every leaf one of the log's own erasure events names and whose payload is
// gone, and from then on a retry of such an event stores no content. What no own erasure event
// explains (a payload deleted by a tamperer, a forged erasure, a range past its event) is left for
// `audit` to report, not marked erased; a payload an event names but that is still there (a crash
// between the event and the deletion) is not erased yet.
//
// The old database is made as storage v1 kept a log (test/support/v1-log.ts): the log is run by
// today's code, written in v1's layout into a database at the schema before 0003, and the payload
// deletions of that time are made there. The upgrade then runs every later migration and the
// conversion to batches, so what is checked is the database a start of today's release leaves.

import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { type EventMeta, eventLeaf, parseSubmission } from "../../src/core/events.ts";
import { parseSignerKey } from "../../src/core/keys.ts";
import { BatchStore } from "../../src/db/batch-store.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { OwnEventWriter } from "../../src/server/own-event-writer.ts";
import { Publisher } from "../../src/server/publisher.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { openTestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ORIGIN, TEST_KEY } from "../support/log.ts";
import { contentCopies } from "../support/stored.ts";
import { oldDatabase, writeAsV1 } from "../support/v1-log.ts";

const _root = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("migration 0003 marks erased exactly the leaves the log's own erasure events erased, and keeps them erased", {
  timeout: 60_000,
}, async () => {
  // The log is run by today's code (which stores batches), then written in v1's layout into a
  // database at the schema before 0003, where the payload deletions of that time are made.
  const v2 = await openTestDb();
  cleanups.push(() => v2.close());
  const sql = v2.sql;
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
  // What `erase` did before 0003: the event, then a plain DELETE (made in the v1 copy below).
  const deleted: number[] = [];
  const deletePayload = async (idx: number) => {
    deleted.push(idx);
  };

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
    await sequencer.close();

    const old = await oldDatabase(3, cleanups);
    await writeAsV1(sql, old.sql);
    for (const idx of deleted) {
      await old.sql.query(
        "DELETE FROM payloads WHERE leaf_hash = (SELECT leaf_hash FROM leaves WHERE idx = $1)",
        [idx],
      );
    }
    const up = await old.upgrade();
    const after = new Sequencer(up, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
    cleanups.push(() => after.close());
    const hashIn = async (idx: number) =>
      (
        await up.query<{ leaf_hash: Uint8Array }>("SELECT leaf_hash FROM leaves WHERE idx = $1", [
          idx,
        ])
      )[0]!.leaf_hash;

    const marked = (
      await up.query<{ leaf_hash: Uint8Array }>("SELECT leaf_hash FROM erased_leaves")
    ).map((r) => hexEncode(r.leaf_hash));
    expect(marked.sort()).toEqual(
      [hexEncode(await hashIn(a0!)), hexEncode(await hashIn(a1!))].sort(),
    );

    // A retry of an erased event after the upgrade: a duplicate at its index, with no content in
    // any batch (its new slot was emptied where it was found in the tree).
    const p = parseSubmission(submitted.get(a0!)!, nodeHasher.digest);
    const [retry] = await after.submit([
      eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! }),
    ]);
    expect(retry).toMatchObject({ index: a0, duplicate: true });
    expect(await contentCopies(up, await hashIn(a0!))).toEqual([]);
    // The deletions v1 made are empty slots after the upgrade, and what no deletion touched is kept.
    const rows = await up.query<{ idx: number; batch: number; slot: number }>(
      "SELECT idx, batch, slot FROM leaves WHERE idx = ANY($1::int8[]) ORDER BY idx",
      [[a0!, a2!, a3!]],
    );
    const stored = await new BatchStore(up).events(rows);
    expect(stored.map((e) => e.payload === null)).toEqual([true, false, true]);
    // A command's searchable copy is never stored again for an erased leaf (the trigger), and is
    // for one never erased (here: the tampered one).
    for (const idx of [a0!, a3!]) {
      await up.query("INSERT INTO command_payloads (leaf_hash, content) VALUES ($1, $2)", [
        await hashIn(idx),
        utf8Encode("restored"),
      ]);
    }
    const commands = await up.query<{ leaf_hash: Uint8Array }>(
      "SELECT leaf_hash FROM command_payloads",
    );
    expect(commands.map((r) => hexEncode(r.leaf_hash))).toEqual([hexEncode(await hashIn(a3!))]);
    // The record itself is append-only.
    await expect(up.query("DELETE FROM erased_leaves")).rejects.toThrow(/append-only/);
  } finally {
    await sequencer.close();
    await publisher.stop();
  }
});
