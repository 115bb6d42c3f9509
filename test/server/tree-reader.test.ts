// The proofs the API serves go through a cache of tiles with their internal subtree hashes; they
// must equal the proofs read straight from storage, at every size, index and pair of sizes.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consistencyProof, inclusionProof } from "../../src/core/proof.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { dbNodeReader } from "../../src/server/tree-reader.ts";
import { openFilledLog, type TestLog } from "../support/log.ts";

const N = 1000; // three full level-0 tiles and a partial one
let log: TestLog;
beforeAll(async () => {
  log = await openFilledLog(N);
}, 60_000);
afterAll(() => log?.close());

describe("cached tree reader", () => {
  it("gives the same inclusion and consistency proofs as reading storage afresh", async () => {
    const sql = log.db.sql;
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: N })
          .chain((size) =>
            fc.tuple(
              fc.constant(size),
              fc.integer({ min: 0, max: size - 1 }),
              fc.integer({ min: 1, max: size }),
            ),
          ),
        async ([size, index, from]) => {
          const cached = dbNodeReader(sql, size, nodeHasher, true);
          const fresh = dbNodeReader(sql, size, nodeHasher, false);
          expect(await inclusionProof(index, size, cached, nodeHasher)).toEqual(
            await inclusionProof(index, size, fresh, nodeHasher),
          );
          expect(await consistencyProof(from, size, cached, nodeHasher)).toEqual(
            await consistencyProof(from, size, fresh, nodeHasher),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it("refuses nodes beyond the tree", async () => {
    const read = dbNodeReader(log.db.sql, 10, nodeHasher, true);
    await expect(read([{ level: 2, index: 2 }])).rejects.toThrow(/not complete at size 10/);
  });
});
