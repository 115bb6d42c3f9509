// Which compression for storage v2's batch objects (issue 20)? Measures node:zlib's codecs on this
// machine's terminal text (terminal-corpus.ts) cut into events' contents, with leaves like the
// agents' (canonical JSON event metadata), in batches of 250, 1,000 and 4,000 events (the
// sequencer's --batch-max): compressed size over original, and compression and decompression
// speed in MB/s of original bytes, one thread. Also whether the leaves compress better with the
// contents or apart.
//
//   npm run bench:codecs [-- --mb 16]

import { createHash, randomBytes } from "node:crypto";
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  deflateRawSync,
  inflateRawSync,
} from "node:zlib";
import { canonicalJson } from "../../src/core/jcs.ts";
import { chunks, terminalText } from "./terminal-corpus.ts";

const mb = Number(process.argv[process.argv.indexOf("--mb") + 1]) || 16;
const contents = chunks(terminalText(mb << 20));
const leaves = contents.map((c, i) =>
  Buffer.from(
    canonicalJson({
      v: 1,
      host: `web-${i % 7}`,
      server: "default@1764050000",
      session: `$${i % 5}`,
      window: "@1",
      pane: `%${i % 20}`,
      user: "alice",
      seq: i >> 2,
      time: new Date(Date.UTC(2026, 11, 8, 0, 0, 0, i * 37)).toISOString(),
      type: "output",
      payload: {
        size: c.length,
        sha256: createHash("sha256").update(randomBytes(32)).update(c).digest("base64"),
      },
    }),
  ),
);

type Codec = { name: string; pack: (b: Buffer) => Buffer; unpack: (b: Buffer) => Buffer };
const brotli = (q: number): Codec => ({
  name: `brotli q${q}`,
  pack: (b) =>
    brotliCompressSync(b, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: q,
        [constants.BROTLI_PARAM_SIZE_HINT]: b.length,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    }),
  unpack: (b) => brotliDecompressSync(b),
});
const deflate = (level: number): Codec => ({
  name: `deflate ${level}`,
  pack: (b) => deflateRawSync(b, { level }),
  unpack: (b) => inflateRawSync(b),
});
const codecs = [deflate(1), deflate(3), deflate(6), brotli(1), brotli(3), brotli(5)];

function measure(codec: Codec, parts: Buffer[][], batch: number) {
  let original = 0;
  let packed = 0;
  let tPack = 0;
  let tUnpack = 0;
  for (let i = 0; i < contents.length; i += batch) {
    const b = Buffer.concat(parts.flatMap((p) => p.slice(i, i + batch)));
    let t = performance.now();
    const z = codec.pack(b);
    tPack += performance.now() - t;
    t = performance.now();
    codec.unpack(z);
    tUnpack += performance.now() - t;
    original += b.length;
    packed += z.length;
  }
  const mbs = (ms: number) => original / 2 ** 20 / (ms / 1000);
  return { ratio: packed / original, pack: mbs(tPack), unpack: mbs(tUnpack), packed };
}

const bytes = (xs: Buffer[]) => xs.reduce((a, x) => a + x.length, 0);
console.log(
  `${contents.length} events: ${(bytes(contents) / 2 ** 20).toFixed(1)} MB of content (${(bytes(contents) / contents.length).toFixed(0)} B each), ${(bytes(leaves) / 2 ** 20).toFixed(1)} MB of leaves (${(bytes(leaves) / leaves.length).toFixed(0)} B each)`,
);
console.log(
  "codec        batch   contents: ratio  pack MB/s  unpack MB/s   leaves apart  together",
);
for (const c of codecs) {
  for (const batch of [250, 1000, 4000]) {
    const m = measure(c, [contents], batch);
    const l = measure(c, [leaves], batch);
    const both = measure(c, [leaves, contents], batch);
    console.log(
      `${c.name.padEnd(12)} ${String(batch).padStart(5)}   ${m.ratio.toFixed(3).padStart(14)} ${m.pack.toFixed(0).padStart(10)} ${m.unpack.toFixed(0).padStart(12)}   ${l.ratio.toFixed(3).padStart(12)}  ${(both.packed / (m.packed + l.packed)).toFixed(3)} of apart`,
    );
  }
}
