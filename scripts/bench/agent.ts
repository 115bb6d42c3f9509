// One simulated agent for `npm run bench`: posts batches of realistic tmux events (output chunks
// of this machine's terminal text, terminal-corpus.ts, 20-2,000 bytes; some command events; many
// streams) to a log for a fixed time over real HTTP,
// then prints one JSON line: {events, errors, requests, latencies (ms), maxAcked, ackTimes, span}.
// Run as its own process so the load generator does not share the server's event loop. It says
// "ready" once started and waits for a line on stdin before it sends anything, so that every
// agent's start-up (and the TypeScript loader's) is outside the measured window; `span` is the
// seconds from that line to its last answer.

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chunks } from "./terminal-corpus.ts";

const [url, token, seconds, batch, agentId, concurrency, corpusFile] = process.argv.slice(2);
let until = 0;
const size = Number(batch);
const host = `bench-${agentId}`;
const streams = 20;
const seqs = new Array(streams).fill(0);
/** The machine's terminal text in chunks; each agent starts at its own place in it. */
const corpus = chunks(readFileSync(corpusFile!));
let next = (Number(String(agentId).replace(/\D/g, "")) || 0) * 7919;

function event(i: number) {
  const pane = i % streams;
  const seq = seqs[pane]++;
  const command = seq % 20 === 19;
  const content = command
    ? JSON.stringify({
        cwd: "/srv/app",
        end: "2026-11-25T10:00:01.000Z",
        exit: 0,
        line: `make test ${seq}`,
        start: "2026-11-25T10:00:00.000Z",
      })
    : corpus[next++ % corpus.length]!;
  const salt = randomBytes(32);
  const bytes = typeof content === "string" ? Buffer.from(content) : content;
  return {
    v: 1,
    host,
    server: "default@1764050000",
    session: `$${pane % 4}`,
    window: "@1",
    pane: `%${pane}`,
    user: "bench",
    seq,
    time: new Date().toISOString(),
    type: command ? "command" : "output",
    payload: {
      size: bytes.length,
      sha256: createHash("sha256").update(salt).update(bytes).digest("base64"),
    },
    content: bytes.toString("utf8"),
    salt: salt.toString("base64"),
  };
}

const latencies: number[] = [];
const acks: number[] = [];
/** [wall-clock ms, highest index acknowledged]: for the checkpoint lag. */
const ackTimes: [number, number][] = [];
let events = 0;
let errors = 0;
let n = 0;

async function loop() {
  while (Date.now() < until) {
    const body = JSON.stringify(Array.from({ length: size }, () => event(n++)));
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body,
    });
    const out = (await res.json()) as { index: number }[];
    latencies.push(performance.now() - t0);
    if (res.status !== 200) {
      errors++;
      continue;
    }
    events += out.length;
    const top = Math.max(...out.map((o) => o.index));
    acks.push(top);
    ackTimes.push([Date.now(), top]);
  }
}

process.stdout.write("ready\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.pause();
const go = performance.now();
until = Date.now() + Number(seconds) * 1000;
await Promise.all(Array.from({ length: Number(concurrency) }, loop));
const span = (performance.now() - go) / 1000;
console.log(
  JSON.stringify({
    span,
    events,
    errors,
    requests: latencies.length,
    latencies,
    maxAcked: Math.max(-1, ...acks),
    ackTimes,
  }),
);
