// `npm run bench`: one run, one table (or --json). Ingest over real HTTP from separate agent
// processes, beside the raw limits measured in the same run: the bare HTTP + JSON path (an echo
// endpoint), PostgreSQL multi-row INSERT and COPY of rows of the same size.
//
//   npm run bench -- [--duration 10] [--agents 4] [--concurrency 4] [--batch 200] [--processes 1,2] [--json]
//
// Uses PostgreSQL from DATABASE_URL (a fresh schema, dropped afterwards), else embedded PGlite in
// a temporary directory (one process only).

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { rawInsertRates } from "./raw-db.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    agents: { type: "string", default: "4" },
    concurrency: { type: "string", default: "4" },
    batch: { type: "string", default: "200" },
    processes: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const duration = Number(opt.duration);
const dbUrl = process.env.DATABASE_URL;
const processCounts = (opt.processes ?? (dbUrl ? "1,2" : "1")).split(",").map(Number);
const ADMIN = `tt_bench_${randomBytes(8).toString("hex")}`;

interface Started {
  child: ChildProcess;
  url: string;
}

function start(args: string[], env: Record<string, string | undefined> = {}): Promise<Started> {
  const child = spawn(process.execPath, args, {
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
}

function runAgents(urls: string[], token: string): Promise<AgentResult[]> {
  const agents = Number(opt.agents);
  return Promise.all(
    Array.from({ length: agents }, (_, i) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "scripts/bench/agent.ts",
          urls[i % urls.length]!,
          token,
          String(duration),
          opt.batch!,
          String(i),
          opt.concurrency!,
        ],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
      });
      return new Promise<AgentResult>((resolve, reject) =>
        child.on("exit", (code) =>
          code === 0
            ? resolve(JSON.parse(out) as AgentResult)
            : reject(new Error(`agent exited ${code}`)),
        ),
      );
    }),
  );
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function ingest(processes: number, schema?: string) {
  const env = {
    TMUXTRAIL_ADMIN_TOKEN: ADMIN,
    TMUXTRAIL_DATABASE_SCHEMA: schema,
    DATABASE_URL: dbUrl ?? "",
  };
  const servers: Started[] = [];
  for (let i = 0; i < processes; i++) {
    servers.push(
      await start(
        [
          "bin/tmuxtrail.js",
          "serve",
          "--port",
          "0",
          "--data",
          mkdtempSync(join(tmpdir(), "tt-bench-")),
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
  const t0 = Date.now();
  const results = await runAgents(
    servers.map((s) => s.url),
    ADMIN,
  );
  const elapsed = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1500));
  polling = false;
  await poll;
  await Promise.all(servers.map(stop));
  const events = results.reduce((a, r) => a + r.events, 0);
  const latencies = results.flatMap((r) => r.latencies);
  // Lag of the last acknowledgement of each agent: time until a checkpoint covered it.
  return {
    events,
    errors: results.reduce((a, r) => a + r.errors, 0),
    rate: events / Math.min(elapsed, duration + 1),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    checkpoints: cps,
  };
}

const rows: { name: string; value: number; unit: string; ratio?: string }[] = [];
const row = (name: string, value: number, unit: string, ratio?: string) =>
  rows.push({ name, value, unit, ratio });

// 1. Raw limits.
const echo = await start(["--import", "tsx", "scripts/bench/echo.ts"]);
const echoRes = await runAgents([echo.url], "none");
await stop(echo);
const echoRate = echoRes.reduce((a, r) => a + r.events, 0) / duration;
row("bare hono endpoint (parse + answer)", echoRate, "events/s");

let schema: string | undefined;
let admin: postgres.Sql | undefined;
if (dbUrl) {
  schema = `bench_${randomBytes(4).toString("hex")}`;
  admin = postgres(dbUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const raw = await rawInsertRates(dbUrl, schema, 3);
  row("PostgreSQL multi-row INSERT (1 KB payload + leaf rows)", raw.insert, "rows/s");
  row("PostgreSQL binary COPY (same rows)", raw.copy, "rows/s");
}

// 2. Ingest through the log, with 1 and (on PostgreSQL) 2 serve processes.
for (const p of processCounts) {
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
  if (dbUrl)
    rows[rows.length - 1]!.ratio += `, ${(r.rate / rows[2]!.value).toFixed(2)} of COPY rows/s`;
  row(`submit latency p50 (${label})`, r.p50, "ms");
  row(`submit latency p99 (${label})`, r.p99, "ms");
  if (r.errors) row(`failed requests (${label})`, r.errors, "requests");
  if (admin && s) await admin.unsafe(`DROP SCHEMA ${s} CASCADE`);
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
          },
        ]),
      ),
    ),
  );
} else {
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(
    `agents ${opt.agents} × ${opt.concurrency} in flight × ${opt.batch} events per request, ${duration} s, 2 cores shared by everything`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${Math.round(r.value).toLocaleString("en-US").padStart(10)} ${r.unit.padEnd(9)} ${r.ratio ?? ""}`,
    );
  }
}
