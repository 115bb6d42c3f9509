// Compact Merkle ranges (transparency-dev/merkle `compact`): the state needed to keep appending to
// a tree of `size` leaves is the hashes of the perfect subtrees of size's binary decomposition,
// its "right edge", largest (leftmost) first: O(log n) hashes, about one node hash per append.
//
// Worked example: size 6 = 4 + 2, so the right edge is the nodes (level 2, index 0) covering
// leaves 0..3 and (level 1, index 2) covering leaves 4..5. Appending leaf 6 pushes (0, 6) and
// merges nothing (size 7 = 4 + 2 + 1); appending leaf 7 then merges (0,6)+(0,7) → (1,3),
// (1,2)+(1,3) → (2,1), (2,0)+(2,1) → (3,0): size 8 has a single perfect subtree.
// The root folds the edge right to left: root(6) = node((2,0), (1,2)).
//
// The sequencer stores the edge in the database with the tree size, so a restart resumes with
// `fromRightEdge` and never recomputes the tree.

import { bitLength } from "./bits.ts";
import { check, show } from "./errors.ts";
import { HASH_SIZE, type Hash, type Hasher, rfc6962 } from "./hash.ts";
import type { NodeId } from "./proof.ts";

interface EdgeNode {
  level: number;
  index: number;
  hash: Hash;
}

/** The perfect subtrees of [0, size), largest first: the node ids of the right edge. */
export function rightEdgeIds(size: number): NodeId[] {
  check(
    Number.isSafeInteger(size) && size >= 0,
    "bad-size",
    `size ${show(size)} is not a safe non-negative integer`,
  );
  const ids: NodeId[] = [];
  let start = 0;
  for (let level = bitLength(size) - 1; level >= 0; level--) {
    const w = 2 ** level;
    if (Math.floor(size / w) % 2 === 1) {
      ids.push({ level, index: start / w });
      start += w;
    }
  }
  return ids;
}

export class CompactRange {
  private constructor(
    private edge: EdgeNode[],
    private n: number,
    private readonly hasher: Hasher,
  ) {}

  static empty(hasher: Hasher = rfc6962): CompactRange {
    return new CompactRange([], 0, hasher);
  }

  /** Resumes from a stored right edge; checks its shape (one 32-byte hash per bit of size). */
  static fromRightEdge(
    size: number,
    edge: readonly Hash[],
    hasher: Hasher = rfc6962,
  ): CompactRange {
    const ids = rightEdgeIds(size);
    check(Array.isArray(edge), "malformed", "right edge is not an array");
    check(
      edge.length === ids.length,
      "bad-proof-length",
      `a tree of size ${size} has ${ids.length} right-edge hashes, got ${edge.length}`,
    );
    const nodes = ids.map((id, i) => {
      const h = edge[i]!;
      check(
        h instanceof Uint8Array && h.length === HASH_SIZE,
        "bad-hash",
        `right-edge hash ${i} is not 32 bytes`,
      );
      return { ...id, hash: h.slice() };
    });
    return new CompactRange(nodes, size, hasher);
  }

  get size(): number {
    return this.n;
  }

  /** Copies of the right-edge hashes, largest subtree first. */
  rightEdge(): Hash[] {
    return this.edge.map((e) => e.hash.slice());
  }

  /**
   * Appends one leaf hash. `onNode` sees every perfect subtree this append completes: the leaf
   * itself at level 0, then each merge, bottom up.
   */
  append(leafHash: Hash, onNode?: (id: NodeId, hash: Hash) => void): void {
    check(
      leafHash instanceof Uint8Array && leafHash.length === HASH_SIZE,
      "bad-hash",
      "leaf hash is not 32 bytes",
    );
    check(this.n < Number.MAX_SAFE_INTEGER, "bad-size", "the tree is full (2^53-1 leaves)");
    let cur: EdgeNode = { level: 0, index: this.n, hash: leafHash };
    onNode?.({ level: 0, index: cur.index }, cur.hash);
    for (;;) {
      const top = this.edge[this.edge.length - 1];
      if (!top || top.level !== cur.level) break;
      this.edge.pop();
      cur = {
        level: cur.level + 1,
        index: top.index / 2,
        hash: this.hasher.node(top.hash, cur.hash),
      };
      onNode?.({ level: cur.level, index: cur.index }, cur.hash);
    }
    this.edge.push(cur);
    this.n++;
  }

  /** The RFC 6962 root of [0, size): the edge folded right to left; the empty root at size 0. */
  root(): Hash {
    if (this.edge.length === 0) return this.hasher.emptyRoot();
    let h = this.edge[this.edge.length - 1]!.hash;
    for (let i = this.edge.length - 2; i >= 0; i--) h = this.hasher.node(this.edge[i]!.hash, h);
    return h;
  }
}
