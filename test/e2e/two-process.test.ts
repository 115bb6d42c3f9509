// Two `serve` processes on one PostgreSQL, submitting concurrently, never fork the tree: one
// consistent tree holds every acknowledged leaf exactly once. PostgreSQL only: the embedded
// database is one process per data directory by design (the second is refused, tested below).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode, bytesEqual } from "../../src/core/encoding.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { rootAt } from "../../src/server/tree-reader.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { run } from "../support/proc.ts";
import { postEvents, serve, tempDir } from "../support/serve.ts";

describe.runIf(usingPostgres)("two serve processes on one PostgreSQL", () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await openTestDb();
  });
  afterAll(() => db.close());

  it("submitting to both at once yields one tree with every acknowledged leaf", {
    timeout: 120_000,
  }, async () => {
    const a = await serve({ data: tempDir(), schema: db.schema });
    const keyFile = a.proc.stdout().match(/signer key\s+(\S+)/)![1]!;
    const b = await serve({ data: tempDir(), schema: db.schema, args: ["--key", keyFile] });
    const vkey = a.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
    const acked = new Map<number, string>();
    try {
      await Promise.all(
        [a.url, b.url, a.url, b.url].map(async (url, w) => {
          for (let i = 0; i < 20; i++) {
            const res = await postEvents(url, makeBatch(50, i * 50, { pane: `%p${w}` }));
            expect(res.status).toBe(200);
            for (const r of (await res.json()) as { index: number; leafHash: string }[]) {
              expect(acked.has(r.index), `index ${r.index} acknowledged twice`).toBe(false);
              acked.set(r.index, r.leafHash);
            }
          }
        }),
      );
      expect(acked.size).toBe(4 * 20 * 50);
      const [state] = await db.sql.query<{ size: number; root: Uint8Array }>(
        "SELECT size, root FROM log_state",
      );
      expect(state!.size).toBe(acked.size);
      const rows = await db.sql.query<{ idx: number; leaf_hash: Uint8Array }>(
        "SELECT idx, leaf_hash FROM leaves ORDER BY idx",
      );
      expect(rows.map((r) => r.idx)).toEqual([...Array(acked.size).keys()]);
      for (const r of rows)
        expect(bytesEqual(r.leaf_hash, base64Decode(acked.get(r.idx)!))).toBe(true);
      expect(bytesEqual(await rootAt(db.sql, state!.size, nodeHasher), state!.root)).toBe(true);
      // Every checkpoint either process signed is a prefix of the one tree.
      const cps = await db.sql.query<{ size: number; root: Uint8Array; note: string }>(
        "SELECT size, root, note FROM checkpoints",
      );
      for (const cp of cps) {
        openCheckpoint(cp.note, [parseVerifierKey(vkey)]);
        expect(bytesEqual(await rootAt(db.sql, cp.size, nodeHasher), cp.root)).toBe(true);
      }
    } finally {
      a.proc.child.kill("SIGTERM");
      b.proc.child.kill("SIGTERM");
      await Promise.all([a.proc.exited, b.proc.exited]);
    }
  });
});

describe("the embedded database", () => {
  it("refuses a second process on the same data directory, pointing to the HTTP API", {
    timeout: 60_000,
  }, async () => {
    const data = tempDir();
    const a = await serve({ data });
    try {
      const b = run(["serve", "--port", "0", "--data", data], { DATABASE_URL: "" });
      expect(await b.exited).toBe(2);
      expect(b.stderr()).toMatch(/in use by another tmuxtrail process.*--log URL/s);
    } finally {
      a.proc.child.kill("SIGTERM");
      await a.proc.exited;
    }
  });
});
