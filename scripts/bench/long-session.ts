// The long-session rows of the bench (issue 19): a session of --session-events events and one of
// --long-session-events, each built in SQL (session-log.ts), served by a `serve` process; on each:
// GET /v1/sessions/:id/export?format=v3 over HTTP (seconds to the last byte, bytes, the server's
// resident memory sampled every 20 ms while it streams), then `tmuxtrail verify-bundle` of what it
// wrote, as its own process; on the shorter session, the web UI in Chromium (ui-session.ts: first
// frame, verdict, JS heap). On the long session the export and verification are of a one-hour
// window late in the day (the worst case for a window found by walking the session's index) and
// early; then the whole long session is streamed, to compare the server's memory growth with the
// shorter session's (flat: it does not grow with the session).

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../src/core/keys.ts";
import { buildSessionLog, type SessionLog } from "./session-log.ts";
import { measureUiSession } from "./ui-session.ts";

export interface Served {
  child: ChildProcess;
  url: string;
}

export interface LongSessionBench {
  dbUrl: string;
  root: string;
  token: string;
  /** Makes a fresh schema (dropped by `drop`). */
  schema(name: string): Promise<string>;
  drop(schema: string): Promise<void>;
  serve(schema: string, keyFile: string): Promise<Served>;
  stop(s: Served): Promise<void>;
  row(name: string, value: number, unit: string, ratio?: string, note?: string): void;
  fail(why: string): void;
}

/** Resident memory now (VmRSS), in MB. */
export function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Beside a figure, its target: "≤ 5 s target: 0.42 of it, met". */
const against = (value: number, target: number, unit: string) =>
  `target ≤ ${target} ${unit}: ${(value / target).toFixed(2)} of it, ${value <= target ? "met" : "MISSED"}`;

/**
 * One export over HTTP, written to a file (unless `keep` is false: counted and dropped): seconds,
 * bytes, RSS at the first byte and its peak.
 */
async function exportOnce(
  b: LongSessionBench,
  s: Served,
  log: SessionLog,
  query: string,
  keep = true,
) {
  const t0 = performance.now();
  const res = await fetch(`${s.url}/v1/sessions/${log.id}/export?${query}`, {
    headers: { Authorization: `Bearer ${b.token}` },
  });
  if (!res.ok || !res.body) throw new Error(`export: ${res.status} ${await res.text()}`);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let first = Number.NaN;
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(s.child.pid));
  }, 20);
  const reader = res.body.getReader();
  for (let c = await reader.read(); !c.done; c = await reader.read()) {
    if (Number.isNaN(first)) first = rssMb(s.child.pid);
    if (keep) chunks.push(c.value);
    bytes += c.value.length;
  }
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, rssMb(s.child.pid));
  // Owner-only: a bundle holds the session's content.
  const file = join(mkdtempSync(join(tmpdir(), "tt-bench-bundle-")), "bundle.json");
  writeFileSync(file, Buffer.concat(chunks), { mode: 0o600 });
  return { seconds, mb: bytes / 1024 ** 2, first, peak, file };
}

/** `tmuxtrail verify-bundle FILE --log-key K` as its own process: seconds and whether it passed. */
async function verifyBundle(b: LongSessionBench, file: string, key: string) {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ["bin/tmuxtrail.js", "verify-bundle", file, "--log-key", key, "--json"],
    { cwd: b.root, stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  const seconds = (performance.now() - t0) / 1000;
  let verified = 0;
  try {
    verified = (JSON.parse(out) as { verified: number }).verified;
  } catch {}
  return { seconds, ok: code === 0, verified };
}

/** Seconds a `tmuxtrail` process takes to start and exit (`--help`): part of every CLI figure. */
async function startup(b: LongSessionBench) {
  const t0 = performance.now();
  const child = spawn(process.execPath, ["bin/tmuxtrail.js", "--help"], {
    cwd: b.root,
    stdio: "ignore",
  });
  await new Promise((r) => child.on("exit", r));
  return (performance.now() - t0) / 1000;
}

async function withSessionLog(
  b: LongSessionBench,
  events: number,
  what: string,
  measure: (s: Served, log: SessionLog, key: string) => Promise<void>,
) {
  const schema = await b.schema(what);
  try {
    const key = generateKey(`bench.tmuxtrail/${what}`, randomBytes(32));
    const keyFile = join(mkdtempSync(join(tmpdir(), "tt-bench-key-")), "log.key");
    writeFileSync(keyFile, `${key.signerKey}\n`, { mode: 0o600 });
    const log = await buildSessionLog(b.dbUrl, schema, {
      events,
      panes: 4,
      hours: 24,
      start: new Date("2026-11-24T00:00:00Z"),
      signerKey: key.signerKey,
    });
    b.row(
      `build of a ${events.toLocaleString("en-US")}-event session in SQL`,
      log.seconds,
      "s",
      undefined,
      `${log.size.toLocaleString("en-US")} leaves, 4 panes, over 24 h`,
    );
    const s = await b.serve(schema, keyFile);
    try {
      await measure(s, log, key.verifierKey);
    } finally {
      await b.stop(s);
    }
  } finally {
    await b.drop(schema);
  }
}

export async function longSessionRows(
  b: LongSessionBench,
  o: { sessionEvents: number; longSessionEvents: number },
) {
  /** The shorter session's export: its events and the server's RSS growth while streaming. */
  let streamed: { events: number; growth: number } | undefined;
  const cli = await startup(b);
  b.row("tmuxtrail start-up (--help), in every CLI figure", cli, "s");
  if (o.sessionEvents > 0) {
    const n = o.sessionEvents.toLocaleString("en-US");
    await withSessionLog(b, o.sessionEvents, "session", async (s, log, key) => {
      const e = await exportOnce(b, s, log, "format=v3");
      b.row(
        `export v3 of a ${n}-event session over HTTP`,
        e.seconds,
        "s",
        against(e.seconds, 5, "s"),
      );
      b.row(`export v3 of a ${n}-event session: size`, e.mb, "MB", against(e.mb, 60, "MB"));
      b.row(
        `peak server RSS during that export`,
        e.peak,
        "MB",
        `${(e.peak - e.first).toFixed(0)} MB above its RSS at the first byte (flat: not growing with the session)`,
      );
      const v = await verifyBundle(b, e.file, key);
      b.row(
        `verify-bundle of that ${n}-event v3 bundle (process)`,
        v.seconds,
        "s",
        `${against(v.seconds, 3, "s")}${v.ok && v.verified === log.events ? "" : ", NOT VERIFIED"}`,
      );
      if (!v.ok || v.verified !== log.events) b.fail(`verify-bundle of the ${n}-event bundle`);
      streamed = { events: log.events, growth: e.peak - e.first };
      const ui = await measureUiSession({
        url: s.url,
        token: b.token,
        logKey: key,
        sessionId: log.id,
      });
      if (typeof ui === "string") {
        b.row(`web UI on the ${n}-event session: SKIPPED`, Number.NaN, "", undefined, ui);
        return;
      }
      const sec = (ms: number) => ms / 1000;
      const heap = Math.max(ui.mainHeapPeakBytes, ui.workerHeapPeakBytes ?? 0) / 2 ** 20;
      const fine = ui.verdict === "ok" ? "" : `, NOT VERIFIED (${ui.badge})`;
      b.row(
        `web UI (Chromium), ${n}-event session: first frame`,
        sec(ui.firstFrameMs),
        "s",
        against(sec(ui.firstFrameMs), 2, "s"),
      );
      b.row(
        `web UI, ${n}-event session: the whole session's verdict`,
        sec(ui.verdictMs),
        "s",
        `${against(sec(ui.verdictMs), 15, "s")}${fine}`,
      );
      b.row(
        `web UI, ${n}-event session: JS heap peak (page or verify worker)`,
        heap,
        "MB",
        `${against(heap, 300, "MB")} (page ${(ui.mainHeapPeakBytes / 2 ** 20).toFixed(0)} MB, worker ${((ui.workerHeapPeakBytes ?? 0) / 2 ** 20).toFixed(0)} MB; page's 20 ms timer's longest gap ${ui.maxTimerGapMs} ms)`,
      );
      if (ui.verdict !== "ok") b.fail(`web UI verdict on the ${n}-event session`);
    });
  }
  if (o.longSessionEvents > 0) {
    const n = o.longSessionEvents.toLocaleString("en-US");
    await withSessionLog(b, o.longSessionEvents, "long_session", async (s, log, key) => {
      // 22:00 to 23:00 of the session's day: the late hour, found past most of the session's rows.
      const hour = (h: number) => new Date(log.start.getTime() + h * 3600_000).toISOString();
      for (const [label, h] of [
        ["late", 22],
        ["early", 1],
      ] as const) {
        const q = `format=v3&since=${hour(h)}&until=${hour(h + 1)}`;
        const e = await exportOnce(b, s, log, q);
        const v = await verifyBundle(b, e.file, key);
        const total = e.seconds + v.seconds;
        b.row(
          `${n}-event session, ${label} one-hour window: export + verify-bundle`,
          total,
          "s",
          `${against(total, 5, "s")} (export ${e.seconds.toFixed(2)} s, ${e.mb.toFixed(1)} MB; verify ${v.seconds.toFixed(2)} s, ${v.verified.toLocaleString("en-US")} events)`,
        );
        if (!v.ok || v.verified === 0) b.fail(`verify-bundle of the ${label} window`);
      }
      // The whole long session streamed (not kept): the server's memory while it streams must
      // not grow with the session, so it is compared with the shorter session's above.
      const whole = await exportOnce(b, s, log, "format=v3", false);
      const growth = whole.peak - whole.first;
      b.row(
        `export v3 of the whole ${n}-event session over HTTP`,
        whole.seconds,
        "s",
        undefined,
        `${whole.mb.toFixed(0)} MB, ${(log.events / whole.seconds).toFixed(0)} events/s`,
      );
      b.row(
        `server RSS growth while streaming the whole ${n}-event session`,
        growth,
        "MB",
        streamed
          ? `${(growth / streamed.growth).toFixed(2)} of its growth for the ${streamed.events.toLocaleString("en-US")}-event session (${streamed.growth.toFixed(0)} MB) for ${(log.events / streamed.events).toFixed(0)}x the events: ${growth <= streamed.growth * 1.25 + 10 ? "flat" : "GROWS"}`
          : "above its RSS at the first byte",
      );
      if (streamed && growth > streamed.growth * 1.25 + 10)
        b.fail("export memory grows with the session");
    });
  }
}
