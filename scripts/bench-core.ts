// `npm run bench:core`: the pure core's rates beside the raw SHA-256 and Ed25519 rates of this
// machine, measured in the same run. A benchmark, not a test: it prints a table (or --json).
//
//   appended leaves/s          leaf hash + compact-range append (node:crypto hasher, as the log)
//   inclusion proofs/s         generated from stored nodes, and verified (noble, as a browser)
//   notes verified/s           a signed checkpoint opened with its log key (noble Ed25519)

import { createHash, generateKeyPairSync, sign, verify } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { formatCheckpoint, openCheckpoint } from "../src/core/checkpoint.ts";
import { CompactRange } from "../src/core/compact.ts";
import { rfc6962 } from "../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../src/core/keys.ts";
import { signNote } from "../src/core/note.ts";
import { inclusionProof, type NodeId } from "../src/core/proof.ts";
import { verifyInclusion } from "../src/core/proof-verify.ts";
import { nodeHasher } from "../src/lib/node-hasher.ts";
import { benchArgs } from "./bench/args.ts";

const HELP = `usage: npm run bench:core -- [--seconds N] [--json]

The pure core's rates (appended leaves, inclusion proofs, notes verified) beside this machine's raw
SHA-256 and Ed25519 rates, measured in the same run.

  --seconds N  seconds per figure (default 1)
  --json       one JSON object instead of the table
  -h, --help   this text
`;
const { json, seconds } = benchArgs("bench:core", HELP, {
  seconds: { default: "1" },
  json: "flag",
});

/** Runs `f` repeatedly for ~`seconds`; returns operations per second. */
function rate(f: () => void, batch = 1): number {
  for (let i = 0; i < 100; i++) f(); // warm up
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) f();
    n += 100;
  }
  return (n * batch * 1000) / (performance.now() - start);
}

async function rateAsync(f: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await f();
  let n = 0;
  const start = performance.now();
  while (performance.now() < start + seconds * 1000) {
    for (let i = 0; i < 20; i++) await f();
    n += 20;
  }
  return (n * 1000) / (performance.now() - start);
}

const rows: { name: string; value: number; unit: string; limit?: string; ratio?: number }[] = [];
const add = (name: string, value: number, unit: string, limitName?: string) => {
  const limit = limitName ? rows.find((r) => r.name === limitName) : undefined;
  rows.push({
    name,
    value,
    unit,
    limit: limitName,
    ratio: limit ? value / limit.value : undefined,
  });
};

// Raw limits.
const b64 = new Uint8Array(64).fill(1);
const b65 = new Uint8Array(65).fill(1);
add(
  "raw SHA-256 64 B, node:crypto",
  rate(() => createHash("sha256").update(b64).digest()),
  "hash/s",
);
add(
  "raw SHA-256 65 B, node:crypto",
  rate(() => createHash("sha256").update(b65).digest()),
  "hash/s",
);
add(
  "raw SHA-256 64 B, @noble/hashes",
  rate(() => sha256(b64)),
  "hash/s",
);
add(
  "raw SHA-256 65 B, @noble/hashes",
  rate(() => sha256(b65)),
  "hash/s",
);
const seed = new Uint8Array(32).fill(5);
const pub = ed25519.getPublicKey(seed);
const msg = new Uint8Array(100).fill(2);
const sig = ed25519.sign(msg, seed);
add(
  "raw Ed25519 verify, @noble/curves",
  rate(() => ed25519.verify(sig, msg, pub)),
  "verify/s",
);
const kp = generateKeyPairSync("ed25519");
const nsig = sign(null, msg, kp.privateKey);
add(
  "raw Ed25519 verify, node:crypto",
  rate(() => verify(null, msg, kp.publicKey, nsig)),
  "verify/s",
);

// Appends: leaf hash (a 63-byte leaf: 64 bytes hashed) + compact range append (one node hash per
// leaf amortised), with the server's hasher: the limit is half the raw 64-byte hash rate.
const leaf = new Uint8Array(63).fill(3);
{
  const range = CompactRange.empty(nodeHasher);
  add(
    "appended leaves (leaf hash + append)",
    rate(() => range.append(nodeHasher.leaf(leaf))),
    "leaf/s",
  );
  const r = rows[rows.length - 1]!;
  r.limit = "raw SHA-256 64 B, node:crypto ÷ 2";
  r.ratio = r.value / (rows[0]!.value / 2);
}

// Proofs over a 2^20-leaf tree held as stored perfect nodes.
const SIZE = 2 ** 20;
const nodes = new Map<string, Uint8Array>();
{
  const range = CompactRange.empty(nodeHasher);
  for (let i = 0; i < SIZE; i++) {
    const h = new Uint8Array(32);
    new DataView(h.buffer).setUint32(0, i);
    range.append(h, (id, hash) => nodes.set(`${id.level}/${id.index}`, hash));
  }
  const root = range.root();
  const read = async (ids: readonly NodeId[]) =>
    ids.map((id) => nodes.get(`${id.level}/${id.index}`)!);
  let i = 0;
  add(
    `inclusion proofs generated (size 2^20)`,
    await rateAsync(async () => {
      await inclusionProof((i++ * 7919) % SIZE, SIZE, read, nodeHasher);
    }),
    "proof/s",
  );
  const idx = 123457;
  const proof = await inclusionProof(idx, SIZE, read, nodeHasher);
  const lh = nodes.get(`0/${idx}`)!;
  add(
    "inclusion proofs verified (noble, 20 hashes)",
    rate(() => verifyInclusion(idx, SIZE, lh, proof, root, rfc6962)),
    "proof/s",
    "raw SHA-256 64 B, @noble/hashes",
  );
  rows[rows.length - 1]!.ratio =
    rows[rows.length - 1]!.value /
    (rows.find((r) => r.name === "raw SHA-256 64 B, @noble/hashes")!.value / 20);
  rows[rows.length - 1]!.limit = "raw SHA-256 64 B, @noble/hashes ÷ 20";
}

// Notes.
{
  const k = generateKey("bench.example/log", seed);
  const note = signNote(
    formatCheckpoint({ origin: "bench.example/log", size: SIZE, root: rfc6962.emptyRoot() }),
    [parseSignerKey(k.signerKey)],
  );
  const v = parseVerifierKey(k.verifierKey);
  add(
    "checkpoint notes opened and verified",
    rate(() => openCheckpoint(note, [v])),
    "note/s",
    "raw Ed25519 verify, @noble/curves",
  );
}

if (json) {
  console.log(
    JSON.stringify(
      Object.fromEntries(
        rows.map((r) => [
          r.name,
          {
            value: Math.round(r.value),
            unit: r.unit,
            ...(r.ratio ? { ratio: Number(r.ratio.toFixed(3)), limit: r.limit } : {}),
          },
        ]),
      ),
    ),
  );
} else {
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${"figure".padEnd(w)}  ${"rate".padStart(12)}  unit      ratio to limit`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${Math.round(r.value).toLocaleString("en-US").padStart(12)}  ${r.unit.padEnd(8)}  ${r.ratio ? `${r.ratio.toFixed(2)} of ${r.limit}` : ""}`,
    );
  }
  const nodeVsNoble = rows[1]!.value / rows[3]!.value;
  console.log(
    `\nnode:crypto vs @noble/hashes on 65-byte inputs: ${nodeVsNoble.toFixed(2)}x (the server uses the faster one; browsers run noble)`,
  );
}
