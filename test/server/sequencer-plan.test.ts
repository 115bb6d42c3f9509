// The sequencer's pure planning (src/server/sequencer/classify.ts, answer.ts, append.ts), table
// by table: whom each submission is answered with, and which leaves are appended, when leaves
// repeat, when two leaves claim one stream position (in one request, across requests of a batch,
// across batches of a group commit, against the tree), and what an append writes.
//
// Leaves are written "name@seq" (an event at seq of pane %1), "name@seq/%2" (of pane %2), or
// "name" (an opaque leaf, no position). Answers are written "index" ("index d" for a duplicate)
// per leaf, or "conflict at POSITION with INDEX (LEAF)", INDEX -1 for a leaf of the same batch.
import { describe, expect, it } from "vitest";
import { CompactRange } from "../../src/core/compact.ts";
import { hexEncode } from "../../src/core/encoding.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { answers } from "../../src/server/sequencer/answer.ts";
import { appendTo, sessionRows } from "../../src/server/sequencer/append.ts";
import {
  classify,
  type ExistingLeaf,
  merge,
  type Pending,
  type Plan,
  settle,
} from "../../src/server/sequencer/classify.ts";
import type { LeafInput, StreamInfo } from "../../src/server/sequencer/input.ts";
import { mth } from "../core/reference.ts";

const names = new Map<string, string>();

function leaf(spec: string): LeafInput {
  const bytes = new TextEncoder().encode(spec);
  const leafHash = nodeHasher.leaf(bytes);
  names.set(hexEncode(leafHash), spec.split("@")[0]!);
  const m = /^[^@]+@(\d+)(?:\/(%\d+))?$/.exec(spec);
  if (!m) return { leaf: bytes, leafHash };
  const stream: StreamInfo = {
    host: "web-1",
    server: "default",
    pane: m[2] ?? "%1",
    seq: Number(m[1]),
    session: "$1",
    sessionId: "s1",
    type: "output",
    user: "alice",
    time: "2026-12-07T18:00:00Z",
  };
  return { leaf: bytes, leafHash, stream };
}

const pending = (specs: string[]): Pending => ({
  leaves: specs.map(leaf),
  resolve: () => {},
  reject: () => {},
});

const inTree = ([spec, idx]: [string, number]): ExistingLeaf => {
  const l = leaf(spec);
  return {
    idx,
    leaf_hash: l.leafHash,
    host: l.stream?.host ?? null,
    server: l.stream?.server ?? null,
    pane: l.stream?.pane ?? null,
    seq: l.stream?.seq ?? null,
  };
};

/** The plan as the tables write it: fresh leaves by name, each submission's answer. */
function show(plan: Plan, from: number) {
  const all = answers(plan, from);
  return {
    fresh: plan.fresh.map((c) => names.get(c.hash)),
    answers: plan.subs.map(({ pending }) => {
      const a = all.get(pending)!;
      if ("conflict" in a) {
        const c = a.conflict;
        return `conflict at ${c.position} with ${c.existingIndex} (${names.get(hexEncode(c.existingLeafHash))})`;
      }
      return a.results.map((r) => `${r.index}${r.duplicate ? " d" : ""}`).join(", ");
    }),
  };
}

describe("classify: one batch, submissions in arrival order", () => {
  const cases: { rule: string; batch: string[][]; fresh: string[]; answers: string[] }[] = [
    {
      rule: "distinct leaves are appended in submission order",
      batch: [["a@0", "b@1"], ["c@0/%2"]],
      fresh: ["a", "b", "c"],
      answers: ["0, 1", "2"],
    },
    {
      rule: "the same leaf twice in one submission is appended once and answered twice",
      batch: [["a@0", "a@0"]],
      fresh: ["a"],
      answers: ["0, 0"],
    },
    {
      rule: "the same leaf in two submissions is appended once and answered to both",
      batch: [["a@0"], ["a@0", "b@1"]],
      fresh: ["a", "b"],
      answers: ["0", "0, 1"],
    },
    {
      rule: "two different leaves for one position in one submission: the submission conflicts at the second",
      batch: [["a@0", "x@0"]],
      fresh: [],
      answers: ["conflict at 1 with -1 (a)"],
    },
    {
      rule: "a later submission's different leaf for a claimed position is a conflict; the first claim stands",
      batch: [["a@0"], ["b@1", "x@0"]],
      fresh: ["a"],
      answers: ["0", "conflict at 1 with -1 (a)"],
    },
    {
      rule: "a rejected submission claims nothing: a later submission may take its positions",
      batch: [["a@0", "x@0", "c@1"], ["d@1"]],
      fresh: ["d"],
      answers: ["conflict at 1 with -1 (a)", "0"],
    },
    {
      rule: "a leaf of a rejected submission is still appended for an accepted one that carries it",
      batch: [["a@0"], ["b@1", "x@0"], ["b@1"]],
      fresh: ["a", "b"],
      answers: ["0", "conflict at 1 with -1 (a)", "1"],
    },
    {
      rule: "the same seq in another pane is another position",
      batch: [["a@0"], ["b@0/%2"]],
      fresh: ["a", "b"],
      answers: ["0", "1"],
    },
    {
      rule: "opaque leaves have no position: only their hash is claimed",
      batch: [
        ["r", "r"],
        ["q", "r"],
      ],
      fresh: ["r", "q"],
      answers: ["0, 0", "1, 0"],
    },
  ];
  for (const c of cases) {
    it(c.rule, () => {
      expect(show(classify(c.batch.map(pending)), 0)).toEqual({
        fresh: c.fresh,
        answers: c.answers,
      });
    });
  }
});

describe("merge: batches staged during an integration go into the next one together", () => {
  const cases: { rule: string; batches: string[][][]; fresh: string[]; answers: string[] }[] = [
    {
      rule: "a later batch's different leaf for a position an earlier batch claimed is a conflict",
      batches: [[["a@0"]], [["x@0"]]],
      fresh: ["a"],
      answers: ["0", "conflict at 0 with -1 (a)"],
    },
    {
      rule: "the same leaf in two batches is appended once",
      batches: [[["a@0"]], [["a@0", "b@1"]]],
      fresh: ["a", "b"],
      answers: ["0", "0, 1"],
    },
    {
      rule: "a submission rejected in its batch stays rejected and claims nothing",
      batches: [[["a@0", "x@0"]], [["x@0"]]],
      fresh: ["x"],
      answers: ["conflict at 1 with -1 (a)", "0"],
    },
  ];
  for (const c of cases) {
    it(c.rule, () => {
      const plans = c.batches.map((b) => classify(b.map(pending)));
      expect(show(merge(plans), 0)).toEqual({ fresh: c.fresh, answers: c.answers });
    });
  }
  it("one plan is its own merge", () => {
    const plan = classify([pending(["a@0"])]);
    expect(merge([plan])).toBe(plan);
  });
});

describe("settle: under the lock, against the leaves the index probes found in the tree", () => {
  const cases: {
    rule: string;
    batch: string[][];
    found: [string, number][];
    fresh: string[];
    answers: string[];
  }[] = [
    {
      rule: "a leaf already in the tree is a duplicate answered with its index; the rest are appended",
      batch: [["a@0", "b@1"]],
      found: [["a@0", 7]],
      fresh: ["b"],
      answers: ["7 d, 10"],
    },
    {
      rule: "a different leaf at a filled position is a conflict naming the leaf of the tree",
      batch: [["x@0", "b@1"]],
      found: [["a@0", 3]],
      fresh: [],
      answers: ["conflict at 0 with 3 (a)"],
    },
    {
      rule: "a submission conflicting with the tree claims nothing: a later claim of its leaves stands",
      batch: [["x@0", "b@1"], ["b@1"]],
      found: [["a@0", 3]],
      fresh: ["b"],
      answers: ["conflict at 0 with 3 (a)", "10"],
    },
    {
      rule: "an opaque leaf in the tree is a duplicate",
      batch: [["r", "q"]],
      found: [["r", 2]],
      fresh: ["q"],
      answers: ["2 d, 10"],
    },
    {
      rule: "a retry of a whole submission is answered with its original indexes and appends nothing",
      batch: [["a@0", "b@1"]],
      found: [
        ["a@0", 4],
        ["b@1", 5],
      ],
      fresh: [],
      answers: ["4 d, 5 d"],
    },
    {
      rule: "a submission rejected before stays rejected",
      batch: [["a@0", "x@0"], ["b@1"]],
      found: [["b@1", 4]],
      fresh: [],
      answers: ["conflict at 1 with -1 (a)", "4 d"],
    },
  ];
  for (const c of cases) {
    it(c.rule, () => {
      const plan = settle(classify(c.batch.map(pending)), c.found.map(inTree));
      expect(show(plan, 10)).toEqual({ fresh: c.fresh, answers: c.answers });
    });
  }
  it("nothing found leaves the plan as it was", () => {
    const plan = classify([pending(["a@0"])]);
    expect(settle(plan, [])).toBe(plan);
  });
});

describe("appendTo: indexes, root, right edge and tile nodes of an append", () => {
  const hashes = Array.from({ length: 257 }, (_, i) =>
    nodeHasher.leaf(new TextEncoder().encode(`leaf ${i}`)),
  );
  const treeOf = (n: number) => {
    const r = CompactRange.empty(nodeHasher);
    for (const h of hashes.slice(0, n)) r.append(h);
    return { size: n, edge: r.rightEdge() };
  };
  const claims = (from: number, to: number) =>
    hashes
      .slice(from, to)
      .map((leafHash, i) => ({ input: { leaf: new Uint8Array([i]), leafHash }, hash: "" }));

  it("3 leaves on a tree of 254: tile 0 gains nodes 254 and 255, tile 1 node 256, level-1 tile node 0", () => {
    const a = appendTo(treeOf(254), claims(254, 257), nodeHasher);
    expect(a.from.size).toBe(254);
    expect(a.to).toEqual(treeOf(257));
    expect(a.root).toEqual(mth(hashes));
    expect(a.tiles.map((t) => [t.level, t.index])).toEqual([
      [0, 254],
      [0, 255],
      [1, 0],
      [0, 256],
    ]);
    expect(a.tiles[2]!.hash).toEqual(mth(hashes.slice(0, 256)));
  });

  it("nothing appended leaves the tree as it was", () => {
    const a = appendTo(treeOf(5), [], nodeHasher);
    expect(a.to).toEqual(treeOf(5));
    expect(a.root).toEqual(mth(hashes.slice(0, 5)));
    expect(a.tiles).toEqual([]);
  });

  it("sessions: one row per session with first and last index, time range and count; session - has none", () => {
    const s = (session: string, sessionId: string, time: string) =>
      ({ ...leaf("z@0").stream!, session, sessionId, time }) as StreamInfo;
    const rows = sessionRows([
      { s: s("$1", "A", "2026-01-01T00:00:02Z"), idx: 10 },
      { s: s("-", "N", "2026-01-01T00:00:00Z"), idx: 11 },
      { s: s("$2", "B", "2026-01-01T00:00:05Z"), idx: 12 },
      { s: s("$1", "A", "2026-01-01T00:00:01Z"), idx: 13 },
    ]);
    expect(rows.map((r) => [r.id, r.first, r.last, r.events, r.t0, r.t1])).toEqual([
      ["A", 10, 13, 2, "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"],
      ["B", 12, 12, 1, "2026-01-01T00:00:05Z", "2026-01-01T00:00:05Z"],
    ]);
  });
});
