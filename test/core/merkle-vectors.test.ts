// Table-driven over the published vectors: test/vectors/rfc6962.json and merkle-probes.json.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CompactRange } from "../../src/core/compact.ts";
import { hexDecode, utf8Encode } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { consistencyProof, inclusionProof, treeRoot } from "../../src/core/proof.ts";
import { verifyConsistency, verifyInclusion } from "../../src/core/proof-verify.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { naiveReader } from "./reference.ts";

const load = (f: string) =>
  JSON.parse(readFileSync(new URL(`../vectors/${f}`, import.meta.url), "utf8"));
const V = load("rfc6962.json");
const P = load("merkle-probes.json");
const hex = (s: string) => hexDecode(s);

const leaves: Uint8Array[] = V.reference_tree.leaf_inputs_hex.map(hex);
const leafHashes = leaves.map((l) => rfc6962.leaf(l));
const roots: Record<string, string> = V.reference_tree.roots_by_size;

describe("rfc6962.json", () => {
  it("hasher known answers (both hashers)", () => {
    const k = V.hasher_kats;
    for (const h of [rfc6962, nodeHasher]) {
      expect(h.emptyRoot()).toEqual(hex(k.transparency_dev.empty_tree_root));
      expect(h.leaf(new Uint8Array())).toEqual(
        hex(k.transparency_dev.leaf_hash_of_empty_input.hash),
      );
      expect(h.leaf(utf8Encode(k.transparency_dev.leaf_hash.input_utf8))).toEqual(
        hex(k.transparency_dev.leaf_hash.hash),
      );
      const n = k.transparency_dev.node_hash;
      expect(h.node(utf8Encode(n.left_utf8), utf8Encode(n.right_utf8))).toEqual(hex(n.hash));
      for (const c of k.ct_python_leaf_hashes)
        expect(h.leaf(hex(c.input_hex))).toEqual(hex(c.hash));
      for (const c of k.ct_python_node_hashes)
        expect(h.node(hex(c.left), hex(c.right))).toEqual(hex(c.hash));
    }
  });

  it("the empty tree and the root at every size, by compact range and from stored nodes", async () => {
    expect(rfc6962.emptyRoot()).toEqual(hex(V.reference_tree.empty_tree_root));
    const range = CompactRange.empty();
    for (let n = 1; n <= leaves.length; n++) {
      range.append(leafHashes[n - 1]!);
      expect(range.root()).toEqual(hex(roots[String(n)]!));
      expect(await treeRoot(n, naiveReader(leafHashes))).toEqual(hex(roots[String(n)]!));
    }
  });

  it("every subtree hash by level", async () => {
    const levels: string[][] = V.reference_tree.node_hashes_by_level.levels;
    const read = naiveReader(leafHashes);
    for (const [level, hashes] of levels.entries()) {
      const got = await read(hashes.map((_, index) => ({ level, index })));
      expect(got).toEqual(hashes.map(hex));
    }
    // And the compact range reports exactly these nodes as they complete.
    const seen = new Map<string, Uint8Array>();
    const range = CompactRange.empty();
    for (const h of leafHashes)
      range.append(h, (id, hash) => seen.set(`${id.level}/${id.index}`, hash));
    for (const [level, hashes] of levels.entries()) {
      for (const [index, h] of hashes.entries())
        expect(seen.get(`${level}/${index}`)).toEqual(hex(h));
    }
  });

  it("inclusion proofs: generated equal to the vectors, and verify", async () => {
    expect(V.inclusion_proofs.vectors.length).toBe(V.counts.inclusion_vectors);
    for (const v of V.inclusion_proofs.vectors) {
      const d = leafHashes.slice(0, v.tree_size);
      const proof = await inclusionProof(v.leaf_index, v.tree_size, naiveReader(d));
      expect(proof).toEqual(v.proof.map(hex));
      verifyInclusion(
        v.leaf_index,
        v.tree_size,
        leafHashes[v.leaf_index]!,
        proof,
        hex(roots[String(v.tree_size)]!),
      );
    }
  });

  it("consistency proofs: generated equal to the vectors, and verify", async () => {
    expect(V.consistency_proofs.vectors.length).toBe(V.counts.consistency_vectors);
    for (const v of V.consistency_proofs.vectors) {
      const proof = await consistencyProof(
        v.size1,
        v.size2,
        naiveReader(leafHashes.slice(0, v.size2)),
      );
      expect(proof).toEqual(v.proof.map(hex));
      verifyConsistency(
        v.size1,
        v.size2,
        proof,
        hex(roots[String(v.size1)]!),
        hex(roots[String(v.size2)]!),
      );
    }
  });

  it("a real CT log's 22-hash inclusion proof verifies", () => {
    const r = V.real_ct_log_inclusion_proof;
    const leafHash = rfc6962.leaf(hex(r.leaf_input_hex));
    if (r.leaf_hash) expect(leafHash).toEqual(hex(r.leaf_hash));
    expect(r.proof.length).toBe(22);
    verifyInclusion(r.leaf_index, r.tree_size, leafHash, r.proof.map(hex), hex(r.root));
    const flipped = r.proof.map(hex);
    flipped[7]![0] ^= 1;
    expect(() =>
      verifyInclusion(r.leaf_index, r.tree_size, leafHash, flipped, hex(r.root)),
    ).toThrow();
  });
});

// The one probe we deliberately decide differently (test/vectors/README.md): it uses 12-byte
// "roots", and our verifier requires 32-byte hashes.
const EXPECTED_DEVIATION =
  "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

describe("merkle-probes.json", () => {
  const expectOutcome = (wantErr: boolean, f: () => void) => {
    if (wantErr) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isTrailError(err), String(err)).toBe(true);
    } else f();
  };

  for (const p of P.inclusion.probes) {
    it(`inclusion ${p.file}: ${p.wantErr ? "rejects" : "accepts"} (${p.desc})`, () => {
      expectOutcome(p.wantErr, () =>
        verifyInclusion(
          p.leafIdx,
          p.treeSize,
          hex(p.leafHash),
          (p.proof ?? []).map(hex),
          hex(p.root),
        ),
      );
    });
  }

  for (const p of P.consistency.probes) {
    if (p.file === EXPECTED_DEVIATION) {
      it(`consistency ${p.file}: our one listed deviation, rejected on hash length`, () => {
        expect(p.wantErr).toBe(false);
        let err: unknown;
        try {
          verifyConsistency(p.size1, p.size2, (p.proof ?? []).map(hex), hex(p.root1), hex(p.root2));
        } catch (e) {
          err = e;
        }
        expect(isTrailError(err, "bad-hash")).toBe(true);
      });
      continue;
    }
    it(`consistency ${p.file}: ${p.wantErr ? "rejects" : "accepts"} (${p.desc})`, () => {
      expectOutcome(p.wantErr, () =>
        verifyConsistency(p.size1, p.size2, (p.proof ?? []).map(hex), hex(p.root1), hex(p.root2)),
      );
    });
  }

  it("exercises every probe", () => {
    expect(P.inclusion.probes.length + P.consistency.probes.length).toBe(196);
  });
});
