// A read load for `npm run bench`, in its own process: for a fixed time, `concurrency` loops fetch
// inclusion proofs at random indexes (or random full hash tiles, entries with their inclusion proof
// from the batches, or the bare endpoint) of a log of
// `size` leaves over real HTTP. Prints {requests, errors, latencies}.

import { encodeTileIndex } from "../../src/core/tiles.ts";

const [url, token, kind, size, seconds, concurrency] = process.argv.slice(2);
const n = Number(size);
const until = Date.now() + Number(seconds) * 1000;
let requests = 0;
let errors = 0;
const latencies: number[] = [];

const path = () => {
  if (kind === "bare") return "/bare";
  if (kind === "proof") {
    return `/v1/proof/inclusion?index=${Math.floor(Math.random() * n)}&size=${n}`;
  }
  if (kind === "entry") return `/v1/entries/${Math.floor(Math.random() * n)}`;
  return `/tile/0/${encodeTileIndex(Math.floor(Math.random() * Math.floor(n / 256)))}`;
};

async function loop() {
  while (Date.now() < until) {
    const t0 = performance.now();
    const res = await fetch(`${url}${path()}`, { headers: { Authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    if (res.ok) requests++;
    else errors++;
  }
}

await Promise.all(Array.from({ length: Number(concurrency) }, loop));
console.log(JSON.stringify({ requests, errors, latencies }));
