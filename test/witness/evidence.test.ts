// What counts as fork evidence (docs/design.md §2.11, rule 1), property-tested on signed checkpoints of
// an honest tree and of a forked one: two honest checkpoints never prove a fork whatever proof
// comes with them; a real fork does, with the proof from the forked tree; a proof that merely
// fails proves nothing. And the witness stores nothing that verify-evidence would refuse.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPowerOfTwo } from "../../src/core/bits.ts";
import { formatCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Encode } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { type Hash, rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { consistencyProof, explicitConsistencyProof } from "../../src/core/proof.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import { recordEvidence, verifyEvidence } from "../../src/witness/evidence.ts";
import { addEvidence, listEvidence } from "../../src/witness/store.ts";
import { startWitness } from "../../src/witness/witness.ts";
import { leafHashes, mth, naiveReader } from "../core/reference.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { tempDir } from "../support/serve.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

const ORIGIN = "evidence.example/log";
const KEY = generateKey(ORIGIN, new Uint8Array(32).fill(61));
const VKEYS = [parseVerifierKey(KEY.verifierKey)];
const HONEST = leafHashes(200);

const note = (size: number, root: Hash) =>
  signNote(formatCheckpoint({ origin: ORIGIN, size, root }), [parseSignerKey(KEY.signerKey)]);
const inconsistent = (a: string, b: string, proof: Hash[]) => ({
  origin: ORIGIN,
  kind: "inconsistent" as const,
  notes: [a, b] as [string, string],
  proof: proof.map(base64Encode),
  detail: "test",
});
/** The code of the TrailError verifyEvidence throws, or "proven". */
function judged(e: unknown): string {
  try {
    verifyEvidence(e, VKEYS);
    return "proven";
  } catch (err) {
    expect(isTrailError(err), String(err)).toBe(true);
    return (err as { code: string }).code;
  }
}
/** A tree of n leaves whose leaf `at` differs from the honest one. */
const forkedTree = (n: number, at: number) => {
  const d = HONEST.slice(0, n);
  d[at] = rfc6962.leaf(new TextEncoder().encode(`forked ${at}`));
  return d;
};
const pair = fc
  .integer({ min: 2, max: 200 })
  .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n)));
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("inconsistency evidence, rule 1: the proof reproduces the larger signed root and implies another smaller root", () => {
  it("two honest checkpoints never prove a fork: not with 0 to 3 junk hashes, junk of the exact length, the RFC proof or the explicit one", async () => {
    await fc.assert(
      fc.asyncProperty(
        pair,
        fc.array(hash, { maxLength: 3 }),
        fc.array(hash, { minLength: 40, maxLength: 40 }),
        async ([m, n], junk, many) => {
          const d = HONEST.slice(0, n);
          const [a, b] = [note(m, mth(d.slice(0, m))), note(n, mth(d))];
          const explicit = await explicitConsistencyProof(m, n, naiveReader(d));
          const rfc = await consistencyProof(m, n, naiveReader(d));
          for (const proof of [junk, many.slice(0, explicit.length), rfc, explicit]) {
            expect(judged(inconsistent(a, b, proof))).not.toBe("proven");
            expect(judged(inconsistent(b, a, proof))).not.toBe("proven");
          }
          expect(judged(inconsistent(a, b, explicit))).toBe("proof-mismatch");
          if (isPowerOfTwo(m)) expect(judged(inconsistent(a, b, rfc))).toBe("bad-proof-length");
        },
      ),
      { numRuns: 50 },
    );
  });

  it("a real fork is proven by the explicit proof from the forked tree, in either note order", async () => {
    await fc.assert(
      fc.asyncProperty(pair, fc.nat(), async ([m, n], pick) => {
        const forked = forkedTree(n, pick % m);
        const a = note(m, mth(HONEST.slice(0, m)));
        const b = note(n, mth(forked));
        const proof = await explicitConsistencyProof(m, n, naiveReader(forked));
        expect(judged(inconsistent(a, b, proof))).toBe("proven");
        expect(judged(inconsistent(b, a, proof))).toBe("proven");
        expect(verifyEvidence(inconsistent(a, b, proof), VKEYS).sizes).toEqual([m, n]);
        // The same two notes with a proof that fails prove nothing: the tiles may be wrong.
        const honestProof = await explicitConsistencyProof(m, n, naiveReader(HONEST.slice(0, n)));
        expect(judged(inconsistent(a, b, honestProof))).toBe("proof-mismatch");
      }),
      { numRuns: 50 },
    );
  });

  it("a fork at a power-of-two size needs the explicit first hash: the RFC proof is refused, naming why", async () => {
    const forked = forkedTree(12, 3);
    const a = note(8, mth(HONEST.slice(0, 8)));
    const b = note(12, mth(forked));
    const rfc = await consistencyProof(8, 12, naiveReader(forked));
    expect(() => verifyEvidence(inconsistent(a, b, rfc), VKEYS)).toThrow(/power of two/);
    const explicit = await explicitConsistencyProof(8, 12, naiveReader(forked));
    expect(explicit).toEqual([mth(forked.slice(0, 8)), ...rfc]);
    expect(judged(inconsistent(a, b, explicit))).toBe("proven");
  });

  it("notes by another key, of another origin, of one size, or with size 0 prove nothing", async () => {
    const forked = forkedTree(9, 2);
    const proof = await explicitConsistencyProof(5, 9, naiveReader(forked));
    const a = note(5, mth(HONEST.slice(0, 5)));
    const b = note(9, mth(forked));
    const other = new MemoryLog(ORIGIN, 62);
    expect(judged(inconsistent(a, other.checkpoint(9), proof))).toBe("unverified");
    expect(judged({ ...inconsistent(a, b, proof), origin: "other.example/log" })).toBe("malformed");
    expect(judged(inconsistent(b, b, proof))).toBe("malformed");
    expect(judged(inconsistent(note(0, rfc6962.emptyRoot()), b, []))).toBe("malformed");
    expect(judged({ ...inconsistent(a, b, proof), proof: [1, 2] })).toBe("bad-proof-length");
  });

  it("same size, different roots: proven; the same root twice is not", () => {
    const a = note(9, mth(HONEST.slice(0, 9)));
    const b = note(9, mth(forkedTree(9, 4)));
    const same = { origin: ORIGIN, kind: "same-size-different-root", notes: [a, b] };
    expect(judged(same)).toBe("proven");
    expect(judged({ ...same, notes: [a, a] })).toBe("proof-mismatch");
  });

  it("junk objects only ever throw a TrailError", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (kind, notes, proof) => {
        for (const e of [
          { origin: ORIGIN, kind, notes, proof },
          {
            origin: ORIGIN,
            kind: "inconsistent",
            notes: [note(3, HONEST[0]!), note(7, HONEST[1]!)],
            proof,
          },
          kind,
        ]) {
          expect(judged(e)).not.toBe("proven");
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("the witness's evidence intake (recordEvidence)", () => {
  let db: TestDb;
  const log = new MemoryLog(ORIGIN, 61);
  beforeAll(async () => {
    db = await openTestDb(WITNESS_MIGRATIONS);
  });
  afterAll(() => db?.close());

  it("stores nothing verify-evidence would refuse, and a real fork once, alerting once", async () => {
    const alerts: string[] = [];
    const deps = {
      ...witnessOf(db.sql, log, { signerKey: KEY.signerKey }),
      onEvidence: (o: string) => alerts.push(o),
    };
    const wlog = deps.logs.get(ORIGIN)!;
    const a = note(7, mth(HONEST.slice(0, 7)));
    const junk = inconsistent(a, note(12, mth(HONEST.slice(0, 12))), HONEST.slice(0, 5));
    await expect(recordEvidence(deps, wlog, junk)).rejects.toThrow(/proves nothing/);
    expect(await listEvidence(db.sql)).toEqual([]);
    const forked = forkedTree(12, 5);
    const real = inconsistent(
      a,
      note(12, mth(forked)),
      await explicitConsistencyProof(7, 12, naiveReader(forked)),
    );
    expect(await recordEvidence(deps, wlog, real)).toBe(true);
    expect(await recordEvidence(deps, wlog, real)).toBe(false);
    expect(await listEvidence(db.sql)).toHaveLength(1);
    expect(alerts).toEqual([ORIGIN]);
  });
});

describe("a witness starting on evidence recorded under the earlier, looser rule", () => {
  it("says at start that it proves nothing and that the log stays refused while it is held", {
    timeout: 120_000,
  }, async () => {
    const pg = usingPostgres ? await openTestDb(WITNESS_MIGRATIONS) : undefined;
    const cfg = {
      port: 0,
      host: "127.0.0.1",
      dataDir: tempDir("tt-evidence-"),
      databaseUrl: pg?.url,
      databaseSchema: pg?.schema,
      logs: [{ origin: ORIGIN, vkeys: [KEY.verifierKey] }],
      peers: [],
      gossipIntervalMs: 60_000,
      pollIntervalMs: 60_000,
    };
    try {
      const first = await startWitness(cfg, () => {});
      // What a witness before rule 1 stored: two honest checkpoints and a proof that fails.
      await addEvidence(
        first.deps.sql,
        inconsistent(note(5, mth(HONEST.slice(0, 5))), note(9, mth(HONEST.slice(0, 9))), []),
      );
      await first.close();
      const lines: string[] = [];
      const again = await startWitness(cfg, (m) => lines.push(m));
      await again.close();
      expect(lines.join("\n")).toMatch(
        /evidence for evidence\.example\/log .* does not prove a fork .*cosigns nothing further/,
      );
    } finally {
      await pg?.close();
    }
  });
});
