// `npm run bench`: one run, one table (or --json). Beside each figure, the raw limit it is bounded
// by, measured in the same run on the same machine:
//   - ingest over real HTTP from separate agent processes (events/s, submit p50/p99, checkpoint lag
//     p50/p99), with 1 and 2 serve processes on PostgreSQL and 1 on PGlite; the final tree of the
//     2-process run is audited (no fork, every hash recomputed);
//   - raw limits: a bare hono endpoint, PostgreSQL multi-row INSERT and COPY of rows of the same
//     size, SHA-256 of 64-byte nodes and Ed25519 verifications (node:crypto);
//   - reads on a log of --leaves leaves (built fast in SQL): inclusion proofs/s and tiles/s over
//     HTTP at random indexes, `audit` leaves/s, peak RSS of the server and of audit;
//   - long sessions (issue 19, long-session.ts), each beside its target: export v3 of a
//     --session-events session (s, MB, server RSS while it streams), verify-bundle of it, the web
//     UI on it (Chromium), one-hour windows of a --long-session-events session (export + verify)
//     and the whole of it streamed (server memory);
//   - storage (issue 20): the events' content is this machine's terminal text (terminal-corpus.ts);
//     bytes on disk per event after the first PostgreSQL ingest run against the content and leaf
//     bytes it holds, and what the text allows (deflate level 1, chunk by chunk and in runs of
//     250); the embedded database's idle memory on its first start and after a restart.
//
//   npm run bench -- [--duration 10] [--agents 4] [--concurrency 4] [--batch 200] [--processes 1,2]
//                    [--leaves 1000000] [--session-events 100000] [--long-session-events 1000000]
//                    [--sessions-only] [--json]
//
// Uses PostgreSQL from DATABASE_URL (fresh schemas, dropped afterwards), else embedded PGlite in
// a temporary directory (ingest only, one process).

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { generateKey } from "../../src/core/keys.ts";
import { decompress, unframeContents, unframeLeaves } from "../../src/db/batch-codec.ts";
import { openPglite } from "../../src/db/sql.ts";
import {
  ensureReplication,
  standbyUnavailable,
  startStandby,
  waitReplayed,
} from "../../test/support/standby.ts";
import { benchArgs } from "./args.ts";
import { buildBigLog } from "./big-log.ts";
import { embeddedIdleRows } from "./embedded-idle.ts";
import { longSessionRows } from "./long-session.ts";
import { rawInsertRates } from "./raw-db.ts";
import { sequencerOnlyRate } from "./sequencer-only.ts";
import { chunks, compressionRatios, terminalText } from "./terminal-corpus.ts";

const HELP = `usage: npm run bench -- [options]

One run, one table: ingest over real HTTP (events/s, submit p50/p99, checkpoint lag p50/p99, peak
RSS) with 1 and 2 serve processes and a PGlite row; reads on a big log (inclusion proofs/s, tiles/s
from the primary and a hot standby, audit leaves/s); each beside the raw limit measured in the same
run (bare hono endpoint, PostgreSQL INSERT and COPY, SHA-256, Ed25519).

  --duration S        seconds of each ingest run (default 10)
  --agents N          agent processes generating load (default 4)
  --concurrency N     requests in flight per agent (default 4)
  --batch N           events per submission (default 200)
  --processes LIST    serve processes per ingest run, e.g. 1,2 (default 1,2 on PostgreSQL, 1 on PGlite)
  --leaves N          size of the log the reads run on, 0 skips the reads (default 1000000)
  --session-events N  events of the session exported (v3, over HTTP) and checked by verify-bundle,
                      0 skips (default 100000)
  --long-session-events N
                      events of the session whose one-hour windows are exported and verified, 0
                      skips (default 1000000; built in SQL in about two minutes)
  --sessions-only     only the long-session rows (no raw limits, ingest or reads)
  --json              one JSON object, keys naming each figure and its unit
  -h, --help          this text

PostgreSQL from DATABASE_URL (fresh schemas, dropped afterwards; the standby rows need root or
the postgres user, PostgreSQL on this machine and pg_basebackup), else embedded PGlite in a
temporary directory (ingest only, one process). Exits 1 when a check of the run fails (failed
requests, an audit that does not verify). docs/performance.md has a run, the targets and what
bounds each figure.
`;

const root = fileURLToPath(new URL("../..", import.meta.url));
const opt = benchArgs("bench", HELP, {
  duration: { default: "10" },
  agents: { default: "4" },
  concurrency: { default: "4" },
  batch: { default: "200" },
  processes: "list",
  leaves: { default: "1000000", min: 0 },
  "session-events": { default: "100000", min: 0 },
  "long-session-events": { default: "1000000", min: 0 },
  "sessions-only": "flag",
  json: "flag",
});
const duration = opt.duration;
const dbUrl = process.env.DATABASE_URL;
const processCounts = opt.processes ?? (dbUrl ? [1, 2] : [1]);
if (!dbUrl && processCounts.some((p) => p > 1)) {
  process.stderr.write(
    "bench: several serve processes share one log only on PostgreSQL: set DATABASE_URL, or --processes 1\n",
  );
  process.exit(2);
}
/** Checks of the run that failed: the bench still prints its table, then exits 1. */
const failures: string[] = [];
const ADMIN = `tt_bench_${randomBytes(8).toString("hex")}`;

interface Started {
  child: ChildProcess;
  url: string;
}

function start(args: string[], env: Record<string, string | undefined> = {}): Promise<Started> {
  // BENCH_SERVE_PROF=DIR: each serve writes a CPU profile there when it stops (where its time goes).
  const prof = process.env.BENCH_SERVE_PROF;
  const flags = prof && args[1] === "serve" ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [];
  const child = spawn(process.execPath, [...flags, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}: ${out}`)));
  });
}

/** Peak resident memory of a running process (VmHWM), in MB. */
/** CPU time (user + system, ms) a process has used, from /proc; 0 once it is gone. */
function cpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** CPU time (ms) used so far by every PostgreSQL server process on this machine. */
function postgresCpuMs(): number {
  let ms = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === "postgres") ms += cpuMs(Number(d));
    } catch {
      // ended meanwhile
    }
  }
  return ms;
}

function peakRssMb(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function stop(s: Started) {
  const done = new Promise((r) => s.child.on("exit", r));
  s.child.kill("SIGTERM");
  await done;
}

interface AgentResult {
  events: number;
  errors: number;
  requests: number;
  latencies: number[];
  maxAcked: number;
  ackTimes?: [number, number][];
  /** Seconds from the start signal to the agent's last answer. */
  span: number;
}

/** The load: `agents` processes × `concurrency` requests in flight × `batch` events, for `seconds`. */
const saturating = {
  agents: opt.agents,
  concurrency: opt.concurrency,
  batch: opt.batch,
  seconds: duration,
  name: "",
};
/** One client, one request of 50 events at a time: submit latency without queueing. */
const light = {
  agents: 1,
  concurrency: 1,
  batch: 50,
  seconds: Math.min(duration, 5),
  name: "light",
};

/** Starts the agents, waits until every one is ready, then lets them all go at once. */
async function runAgents(urls: string[], token: string, load = saturating): Promise<AgentResult[]> {
  const agents = Array.from({ length: load.agents }, (_, i) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "scripts/bench/agent.ts",
        urls[i % urls.length]!,
        token,
        String(load.seconds),
        String(load.batch),
        `${load.name}${i}`,
        String(load.concurrency),
        corpusFile,
      ],
      { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
    );
    let out = "";
    let onReady: () => void;
    const ready = new Promise<void>((r) => {
      onReady = r;
    });
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.startsWith("ready\n")) onReady();
    });
    const result = new Promise<AgentResult>((resolve, reject) =>
      child.on("exit", (code) =>
        code === 0
          ? resolve(JSON.parse(out.slice("ready\n".length)) as AgentResult)
          : reject(new Error(`agent exited ${code}`)),
      ),
    );
    return { child, ready, result };
  });
  try {
    await Promise.race([
      Promise.all(agents.map((a) => a.ready)),
      Promise.all(agents.map((a) => a.result)), // an agent that dies before it is ready
    ]);
  } catch (e) {
    for (const a of agents) a.child.kill();
    throw e;
  }
  for (const a of agents) {
    a.child.stdin!.on("error", () => {}); // an agent that died after "ready": its exit code tells
    a.child.stdin!.end("go\n");
  }
  return Promise.all(agents.map((a) => a.result));
}

/** Events per second over the measured window: from the start signal to the last answer. */
const eventRate = (results: AgentResult[]) =>
  results.reduce((a, r) => a + r.events, 0) / Math.max(...results.map((r) => r.span));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** This machine's terminal text, the content of the agents' output events (terminal-corpus.ts). */
const corpus = terminalText();
const corpusFile = join(mkdtempSync(join(tmpdir(), "tt-bench-corpus-")), "corpus.txt");
writeFileSync(corpusFile, corpus, { mode: 0o600 });

/** Bytes in a schema's tables with their indexes and TOAST, and what the events hold. */
type Query = (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

async function storageOf(query: Query, schema: string) {
  const [t] = await query(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS total
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
    [schema],
  );
  const [p] = await query(`SELECT count(*)::bigint AS events FROM ${schema}.leaves`);
  // What the events hold: the batches' parts inflated (storage v2 keeps no plain copy to sum), or
  // on a storage v1 log (an earlier release, for alternating runs) its entries and payloads.
  let content = 0;
  let leaf = 0;
  const [v1] = await query(`SELECT to_regclass('${schema}.entries') IS NOT NULL AS v1`);
  if (v1!.v1) {
    const [x] = await query(
      `SELECT (SELECT coalesce(sum(octet_length(content)), 0) FROM ${schema}.payloads)::bigint AS content,
              (SELECT coalesce(sum(octet_length(leaf)), 0) FROM ${schema}.entries)::bigint AS leaf`,
    );
    content = Number(x!.content);
    leaf = Number(x!.leaf);
  }
  for (const b of v1!.v1
    ? []
    : await query(`SELECT codec, leaves, contents FROM ${schema}.batches WHERE integrated`)) {
    const codec = Number(b.codec);
    for (const l of unframeLeaves(await decompress(b.leaves as Uint8Array, codec)))
      leaf += l.length;
    for (const c of unframeContents(await decompress(b.contents as Uint8Array, codec))) {
      content += c?.content.length ?? 0;
    }
  }
  // Where the bytes are: each table (with its TOAST) and each index, the largest first.
  const parts = await query(
    `SELECT c.relname AS name,
            CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY 2 DESC LIMIT 8`,
    [schema],
  );
  return {
    parts: parts
      .map((x) => `${String(x.name)} ${(Number(x.bytes) / 2 ** 20).toFixed(1)}`)
      .join(", "),
    total: Number(t!.total),
    events: Number(p!.events),
    content,
    leaf,
  };
}

/** The storage row of one ingest run's log. */
function storageRow(label: string, st: Awaited<ReturnType<typeof storageOf>>) {
  const held = st.content + st.leaf;
  row(
    `storage per event, tables + indexes (${label})`,
    st.total / st.events,
    "bytes",
    `${(st.total / held).toFixed(2)}x its content + leaf bytes (target ≤ 0.4x, floor 0.5x)`,
    `${st.events.toLocaleString("en-US")} events: ${(st.total / 2 ** 20).toFixed(1)} MB for ${(st.content / 2 ** 20).toFixed(1)} MB of content and ${(st.leaf / 2 ** 20).toFixed(1)} MB of leaves; MB by table and index: ${st.parts}`,
  );
}

/** The storage of the embedded database in a data directory, opened once its serve stopped. */
async function pgliteStorage(dataDir: string) {
  const { sql } = await openPglite(join(dataDir, "db"));
  try {
    return await storageOf((text, params) => sql.query(text, params), "public");
  } finally {
    await sql.close();
  }
}

/** One log key for every serve process of a run: processes of one log share its key. */
const ingestKey = generateKey("bench.tmuxtrail/ingest", randomBytes(32));
const ingestKeyFile = join(mkdtempSync(join(tmpdir(), "tt-bench-key-")), "log.key");
writeFileSync(ingestKeyFile, `${ingestKey.signerKey}\n`, { mode: 0o600 });

async function ingest(processes: number, schema?: string) {
  const env = {
    TMUXTRAIL_ADMIN_TOKEN: ADMIN,
    TMUXTRAIL_DATABASE_SCHEMA: schema,
    DATABASE_URL: schema ? dbUrl : "",
  };
  const servers: Started[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "tt-bench-"));
  for (let i = 0; i < processes; i++) {
    servers.push(
      await start(
        [
          "bin/tmuxtrail.js",
          "serve",
          "--port",
          "0",
          "--key",
          ingestKeyFile,
          "--data",
          i === 0 ? dataDir : mkdtempSync(join(tmpdir(), "tt-bench-")),
        ],
        env,
      ),
    );
  }
  // Checkpoint lag: poll the published size while the agents run.
  const cps: [number, number][] = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const text = await (await fetch(`${servers[0]!.url}/checkpoint`)).text();
      cps.push([Date.now(), Number(text.split("\n")[1])]);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // CPU per event over the measured run (agents' start-up included on neither side).
  const cpu0 = { serve: servers.map((x) => cpuMs(x.child.pid)), pg: postgresCpuMs() };
  const results = await runAgents(
    servers.map((s) => s.url),
    ADMIN,
  );
  const acked = results.reduce((a, r) => a + r.events, 0);
  const servedCpu = servers.reduce((a, x, i) => a + cpuMs(x.child.pid) - cpu0.serve[i]!, 0);
  const cpuPerEvent = {
    serve: (servedCpu * 1000) / acked,
    pg: ((postgresCpuMs() - cpu0.pg) * 1000) / acked,
  };
  await new Promise((r) => setTimeout(r, 1500));
  polling = false;
  await poll;
  // Then, on the same log, one client alone (its own host: new streams).
  const lightResults = await runAgents([servers[0]!.url], ADMIN, light);
  const lightLatencies = lightResults.flatMap((r) => r.latencies);
  const rss = Math.max(...servers.map((x) => peakRssMb(x.child.pid)));
  await Promise.all(servers.map(stop));
  // Checkpoint lag: from each acknowledgement to the first checkpoint seen covering it.
  const lags: number[] = [];
  for (const r of results) {
    for (const [t, index] of r.ackTimes ?? []) {
      const cp = cps.find(([tc, size]) => tc >= t && size > index);
      if (cp) lags.push(cp[0] - t);
    }
  }
  const events = results.reduce((a, r) => a + r.events, 0);
  const latencies = results.flatMap((r) => r.latencies);
  return {
    events,
    errors: results.reduce((a, r) => a + r.errors, 0),
    rate: eventRate(results),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    /** Everything acknowledged in the run, the light client's events included. */
    acknowledged: events + lightResults.reduce((a, r) => a + r.events, 0),
    lightP50: pct(lightLatencies, 50),
    lightP99: pct(lightLatencies, 99),
    lag50: pct(lags, 50),
    lag99: pct(lags, 99),
    rss,
    /** µs of CPU per acknowledged event: the serve processes, and PostgreSQL's processes. */
    cpuPerEvent,
    /** The first serve's data directory (its embedded database, without DATABASE_URL). */
    dataDir,
  };
}

/** `tmuxtrail audit` of a schema, as its own process: leaves, seconds, peak RSS. */
async function audit(schema: string, logKey?: string) {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ["bin/tmuxtrail.js", "audit", "--json", ...(logKey ? ["--log-key", logKey] : [])],
    {
      cwd: root,
      env: { ...process.env, DATABASE_URL: dbUrl, TMUXTRAIL_DATABASE_SCHEMA: schema },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  let rss = 0;
  child.stdout!.on("data", (d) => {
    out += d;
  });
  const timer = setInterval(() => {
    const m = peakRssMb(child.pid);
    if (m > rss) rss = m;
  }, 50);
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  let parsed: { ok?: boolean; leaves?: number } = {};
  try {
    parsed = JSON.parse(out);
  } catch {
    parsed = {};
  }
  return { ok: code === 0 && parsed.ok === true, leaves: parsed.leaves ?? 0, seconds, rss };
}

async function readLoad(url: string, kind: "proof" | "tile" | "entry" | "bare", size: number) {
  const loaders = 2;
  const results = await Promise.all(
    Array.from({ length: loaders }, () => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "scripts/bench/read-load.ts",
          url,
          ADMIN,
          kind,
          String(size),
          String(Math.min(duration, 10)),
          "16",
        ],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
      });
      return new Promise<{ requests: number; errors: number; latencies: number[] }>(
        (resolve, reject) =>
          child.on("exit", (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`read load exited ${code}`)),
          ),
      );
    }),
  );
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const latencies = results.flatMap((r) => r.latencies);
  return {
    rate: requests / Math.min(duration, 10),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
  };
}

const rows: { name: string; value: number; unit: string; ratio?: string; note?: string }[] = [];
/** One figure; `ratio` to its raw limit, or a `note` on what it is. */
const row = (name: string, value: number, unit: string, ratio?: string, note?: string) =>
  rows.push({ name, value, unit, ratio, note });

// 1. Raw limits.
/** --sessions-only: the long-session rows alone (section 4). */
const only = opt["sessions-only"];
let echoRate = Number.NaN;
let bareGet = { rate: Number.NaN, p50: Number.NaN };
if (!only) {
  const echo = await start(["--import", "tsx", "scripts/bench/echo.ts"]);
  const echoRes = await runAgents([echo.url], "none");
  bareGet = await readLoad(echo.url, "bare", 1);
  await stop(echo);
  echoRate = eventRate(echoRes);
  row("bare hono endpoint (parse + answer)", echoRate, "events/s");
  row("bare hono GET (a proof-sized answer)", bareGet.rate, "requests/s");
}
const rate = (f: () => void, ms = 500) => {
  let n = 0;
  const t = performance.now();
  while (performance.now() - t < ms) for (let i = 0; i < 100; i++, n++) f();
  return n / ((performance.now() - t) / 1000);
};
const node64 = randomBytes(65);
const sha256Rate = rate(() => createHash("sha256").update(node64).digest());
row("SHA-256 of a 65-byte node (node:crypto)", sha256Rate, "hashes/s");
/** An audit's leaves/s as a ratio to its bound: two SHA-256 per leaf (leaf hash, tree node). */
const ofHashing = (leavesPerSecond: number) =>
  `${(leavesPerSecond / (sha256Rate / 2)).toFixed(2)} of SHA-256 rate ÷ 2`;
const keys = generateKeyPairSync("ed25519");
const msg = randomBytes(120);
const sig = sign(null, msg, keys.privateKey);
const ed25519Rate = rate(() => verify(null, msg, keys.publicKey, sig));
row("Ed25519 verify (node:crypto)", ed25519Rate, "verifies/s");

let schema: string | undefined;
let admin: postgres.Sql | undefined;
if (dbUrl) {
  schema = `bench_${randomBytes(4).toString("hex")}`;
  admin = postgres(dbUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  if (!only) {
    const raw = await rawInsertRates(dbUrl, schema, 3);
    row("PostgreSQL multi-row INSERT (1 KB payload + leaf rows)", raw.insert, "rows/s");
    row("PostgreSQL binary COPY (same rows)", raw.copy, "rows/s");
  }
}

// 2. Ingest through the log, with 1 and (on PostgreSQL) 2 serve processes.
for (const p of only ? [] : processCounts) {
  const s = dbUrl ? `${schema}_${p}` : undefined;
  if (admin && s) await admin.unsafe(`CREATE SCHEMA ${s}`);
  const r = await ingest(p, s);
  const label = `${dbUrl ? "PostgreSQL" : "PGlite"}, ${p} serve process${p > 1 ? "es" : ""}`;
  row(
    `ingest events/s (${label})`,
    r.rate,
    "events/s",
    `${(r.rate / echoRate).toFixed(2)} of bare HTTP`,
  );
  if (dbUrl) {
    // Per event the log writes three rows (entry, payload, tree) of which one carries the ~1 KB.
    const of = (prefix: string) => rows.find((x) => x.name.startsWith(prefix))!.value;
    rows[rows.length - 1]!.ratio +=
      `, ${(r.rate / of("PostgreSQL binary COPY")).toFixed(2)} of COPY rows/s, ${(r.rate / of("PostgreSQL multi-row INSERT")).toFixed(2)} of INSERT rows/s`;
  }
  row(
    `CPU per event, serve (${label})`,
    r.cpuPerEvent.serve,
    "µs",
    `${((r.cpuPerEvent.serve * r.rate) / 1e6).toFixed(2)} cores at that rate`,
  );
  if (dbUrl) {
    row(
      `CPU per event, PostgreSQL (${label})`,
      r.cpuPerEvent.pg,
      "µs",
      `${((r.cpuPerEvent.pg * r.rate) / 1e6).toFixed(2)} cores at that rate`,
    );
  }
  row(`submit latency p50 (${label})`, r.p50, "ms");
  row(`submit latency p99 (${label})`, r.p99, "ms");
  row(`submit latency p50, 1 client × 50 events (${label})`, r.lightP50, "ms");
  row(`submit latency p99, 1 client × 50 events (${label})`, r.lightP99, "ms");
  row(`checkpoint lag p50 (${label})`, r.lag50, "ms");
  row(`checkpoint lag p99 (${label})`, r.lag99, "ms");
  row(`peak server RSS (${label})`, r.rss, "MB");
  if (r.errors) {
    row(`failed requests (${label})`, r.errors, "requests");
    failures.push(`${r.errors} requests failed (${label})`);
  }
  if (admin && s && p > 1) {
    // Several writers, one tree: recompute every hash of what they built.
    const a = await audit(s, ingestKey.verifierKey);
    row(
      `audit of the tree (${label})`,
      a.leaves,
      "leaves",
      undefined,
      a.ok ? "one consistent tree, every hash recomputed" : "FAILED",
    );
    // The read log below holds opaque leaves; these are events (commitments and streams checked).
    row(
      `audit leaves/s, tmux events (${label})`,
      a.leaves / a.seconds,
      "leaves/s",
      ofHashing(a.leaves / a.seconds),
    );
    if (!a.ok) failures.push(`the audit of the tree built by ${label} failed`);
    if (a.leaves < r.acknowledged)
      failures.push(
        `the tree built by ${label} holds ${a.leaves} leaves, ${r.acknowledged} were acknowledged`,
      );
  }
  if (p === processCounts[0]) {
    // What the events cost on disk: tables and indexes against the content and leaves they hold.
    if (admin && s) storageRow(label, await storageOf((t, ps) => admin!.unsafe(t, ps as never), s));
    else if (!dbUrl) storageRow(label, await pgliteStorage(r.dataDir));
  }
  if (admin && s) await admin.unsafe(`DROP SCHEMA ${s} CASCADE`);
}
if (admin && schema && !only) {
  // The database path alone: what ingest would do if HTTP, JSON and validation cost nothing.
  const s = `${schema}_seq`;
  await admin.unsafe(`CREATE SCHEMA ${s}`);
  const q = await sequencerOnlyRate(dbUrl!, s, corpusFile);
  row(
    "sequencer alone, pre-parsed events (PostgreSQL, 16 × 200 in flight)",
    q.rate,
    "events/s",
    undefined,
    `batches of ${Math.round(q.meanBatch)} leaves: the database path without HTTP, JSON or validation`,
  );
  await admin.unsafe(`DROP SCHEMA ${s} CASCADE`);
}
if (!only) {
  const c = compressionRatios(chunks(corpus));
  row(
    "the corpus deflated (level 1), chunk by chunk / in runs of 250",
    c.single,
    "of its size",
    undefined,
    `${c.runs.toFixed(2)} in runs of 250 (${(corpus.length / 2 ** 20).toFixed(0)} MB of this machine's terminal text)`,
  );
}
if (dbUrl && !only) {
  // The embedded default, for comparison.
  const r = await ingest(1);
  row(
    "ingest events/s (PGlite, 1 serve process)",
    r.rate,
    "events/s",
    `${(r.rate / echoRate).toFixed(2)} of bare HTTP`,
  );
  row("submit latency p50 (PGlite)", r.p50, "ms");
  row("submit latency p99 (PGlite)", r.p99, "ms");
  row("submit latency p50, 1 client × 50 events (PGlite)", r.lightP50, "ms");
  row("submit latency p99, 1 client × 50 events (PGlite)", r.lightP99, "ms");
  storageRow("PGlite, 1 serve process", await pgliteStorage(r.dataDir));
}

// The embedded default's idle memory, first start and restart.
if (!only) await embeddedIdleRows(root, row);

// 3. Reads on a big log.
const leaves = only ? 0 : opt.leaves;
if (admin && schema && leaves > 0) {
  const s = `${schema}_reads`;
  await admin.unsafe(`CREATE SCHEMA ${s}`);
  const key = generateKey("bench.tmuxtrail/reads", randomBytes(32));
  const keyFile = join(mkdtempSync(join(tmpdir(), "tt-bench-key-")), "log.key");
  writeFileSync(keyFile, `${key.signerKey}\n`, { mode: 0o600 });
  const built = await buildBigLog(dbUrl!, s, leaves, key.signerKey);
  row(
    "build of the read log in SQL",
    built.seconds,
    "s",
    undefined,
    `${leaves.toLocaleString("en-US")} leaves`,
  );
  const server = await readServer(s, keyFile);
  await measureReads(server.url, "");
  row("peak server RSS (reads)", peakRssMb(server.child.pid), "MB");
  await stop(server);
  await standbyReads(s, keyFile);
  const a = await audit(s, key.verifierKey);
  row(
    "audit leaves/s, opaque leaves (read log)",
    a.leaves / a.seconds,
    "leaves/s",
    `${ofHashing(a.leaves / a.seconds)}${a.ok ? "" : ", FAILED"}`,
  );
  if (!a.ok) failures.push("the audit of the read log failed");
  row("peak audit RSS", a.rss, "MB");
  await admin.unsafe(`DROP SCHEMA ${s} CASCADE`);
}
/** A `serve` process on the read bench's log (reads from `extra`'s --read-database-url if given). */
function readServer(schemaName: string, keyFile: string, extra: string[] = []) {
  const data = mkdtempSync(join(tmpdir(), "tt-bench-"));
  return start(
    ["bin/tmuxtrail.js", "serve", "--port", "0", "--key", keyFile, "--data", data, ...extra],
    { TMUXTRAIL_ADMIN_TOKEN: ADMIN, TMUXTRAIL_DATABASE_SCHEMA: schemaName, DATABASE_URL: dbUrl },
  );
}

/** Inclusion proofs/s and full tiles/s at random indexes, after warming the tile cache. */
async function measureReads(url: string, where: string) {
  // Warm the server's tile cache first (steady state: 64 MB holds every tile of a million leaves).
  await readLoad(url, "proof", leaves);
  for (const kind of ["proof", "tile", "entry"] as const) {
    const r = await readLoad(url, kind, leaves);
    row(
      kind === "proof"
        ? `inclusion proofs over HTTP${where} (random index)`
        : kind === "tile"
          ? `full hash tiles over HTTP${where} (random)`
          : `entries with their proof over HTTP${where} (random index, leaf from its batch)`,
      r.rate,
      "requests/s",
      `${(r.rate / bareGet.rate).toFixed(2)} of bare GET requests/s`,
    );
    row(`${kind} latency p50${where}`, r.p50, "ms");
    if (kind === "entry") row(`${kind} latency p99${where}`, r.p99, "ms");
  }
}

/**
 * The same reads from a PostgreSQL hot standby of the bench's server (`serve
 * --read-database-url`), made for the run by pg_basebackup (test/support/standby.ts: as root or
 * the postgres user, on this machine's server) and removed afterwards. Skipped loudly otherwise.
 */
async function standbyReads(schemaName: string, keyFile: string) {
  const why = await standbyUnavailable(dbUrl!);
  if (why) {
    console.error(`bench: reads from a hot standby SKIPPED: ${why}`);
    return;
  }
  const undoHba = await ensureReplication(dbUrl!);
  const t0 = performance.now();
  const standby = await startStandby(dbUrl!);
  try {
    await waitReplayed(dbUrl!, standby.url, 120_000);
    row("made a hot standby (pg_basebackup) and caught up", (performance.now() - t0) / 1000, "s");
    const server = await readServer(schemaName, keyFile, ["--read-database-url", standby.url]);
    await measureReads(server.url, " from the standby");
    await stop(server);
  } finally {
    await standby.destroy();
    await undoHba();
  }
}

// 4. Long sessions (issue 19): export v3 and verify-bundle, each beside its target.
if (admin && schema) {
  const a = admin;
  await longSessionRows(
    {
      dbUrl: dbUrl!,
      root,
      token: ADMIN,
      async schema(name) {
        await a.unsafe(`CREATE SCHEMA ${schema}_${name}`);
        return `${schema}_${name}`;
      },
      async drop(s) {
        await a.unsafe(`DROP SCHEMA ${s} CASCADE`);
      },
      serve: (s, keyFile) => readServer(s, keyFile),
      stop,
      row,
      fail: (why) => failures.push(why),
    },
    { sessionEvents: opt["session-events"], longSessionEvents: opt["long-session-events"] },
  );
} else if (opt["session-events"] > 0 || opt["long-session-events"] > 0) {
  console.error("bench: long-session rows SKIPPED: they need PostgreSQL (DATABASE_URL)");
}

if (admin && schema) {
  await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}

if (opt.json) {
  console.log(
    JSON.stringify(
      Object.fromEntries(
        rows.map((r) => [
          r.name,
          {
            value: Number(r.value.toFixed(2)),
            unit: r.unit,
            ...(r.ratio ? { ratio: r.ratio } : {}),
            ...(r.note ? { note: r.note } : {}),
          },
        ]),
      ),
    ),
  );
} else {
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(
    `agents ${opt.agents} × ${opt.concurrency} in flight × ${opt.batch} events per request, ${duration} s, ${cpus().length} cores shared by everything`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${(Math.abs(r.value) < 100 ? r.value.toFixed(2) : Math.round(r.value).toLocaleString("en-US")).padStart(10)} ${r.unit.padEnd(9)} ${[r.ratio, r.note].filter(Boolean).join("; ")}`,
    );
  }
}
if (failures.length > 0) {
  for (const f of failures) console.error(`bench: FAILED: ${f}`);
  process.exitCode = 1;
}
