// A long session in the web UI (issue 19): 3,000 events over about three hours, opened in windows
// of 500 events (?per-window=500: 6 windows). The first window's panes are ready and play before
// the whole session is verified; the badge counts up and ends verified; the page's main thread
// stays responsive while the verify worker works (a 20 ms timer keeps firing); a seek into a
// window not loaded yet loads it next. Through `tmuxtrail ui` and a lying log in front of the real
// one: a window answered with the window before it, or with another session, ends on a failed
// verdict naming the window; and an event whose stored content was altered, named with its window.
// The figures (first frame, verdict, heap) are printed; test/support/ui-load.ts measures them.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureSessionLoad } from "../../scripts/bench/ui-load.ts";
import { type RunningLogServer, startLogServer } from "../../src/api/log-server.ts";
import { utf8Encode } from "../../src/core/encoding.ts";
import { generateKey } from "../../src/core/keys.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { DEFAULTS } from "../../src/server/config.ts";
import { planWindows } from "../../src/ui/windows.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { type Answer, type LyingProxy, lyingProxy } from "../support/lying-proxy.ts";
import { type Proc, run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";
import { alterContent } from "../support/stored.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");
const haveChromium = existsSync(CHROMIUM);

const HOST = "long-host";
const SERVER = "default@1764050000";
const LONG = sessionId(HOST, SERVER, "$1");
const OTHER = sessionId(HOST, SERVER, "$2");
const EVENTS = 3000;
const PER_WINDOW = 500;
/** Event i happens 3.6 s after event i-1: 3,000 events span three hours. */
const T0 = Date.UTC(2026, 10, 24, 19, 0, 0);
const at = (i: number) => new Date(T0 + i * 3600).toISOString();

let db: TestDb | undefined;
let log: RunningLogServer;
let browser: Browser;
let reader: string;
/** The lying log in front of the real one, and what it does to a window's answer. */
let proxy: LyingProxy;
let lie: (path: string, real: Answer) => Answer | undefined | Promise<Answer | undefined> = () =>
  undefined;
/** `tmuxtrail ui --log <proxy>`. */
let ui: { proc: Proc; base: string };

/** The 3,000 events of the long session: two panes taking turns, a command every 100 events. */
function longSession(): Record<string, unknown>[] {
  const base = { host: HOST, server: SERVER, session: "$1", user: "carol" };
  const seq = { "%0": 0, "%1": 0 };
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const pane = i % 2 ? "%1" : "%0";
    const s = seq[pane]++;
    const e = { ...base, pane, seq: s, time: at(i) };
    if (s === 0) {
      out.push({ ...makeSubmission({ ...e, type: "pane-open" }), size: { cols: 100, rows: 20 } });
    } else if (i >= EVENTS - 2) out.push(makeSubmission({ ...e, type: "pane-close" }));
    else if (pane === "%0" && i % 100 === 0) {
      out.push(
        makeSubmission({
          ...e,
          type: "command",
          content: JSON.stringify({
            cwd: "/srv",
            end: at(i),
            exit: 0,
            line: `make step-${i}`,
            start: at(i),
          }),
        }),
      );
    } else out.push(makeSubmission({ ...e, content: `pane ${pane} line ${i}\r\n` }));
  }
  return out;
}

async function submit(events: unknown[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const res = await fetch(`${log.url}/v1/events?wait=checkpoint`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(events.slice(i, i + 1000)),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }
}

beforeAll(async () => {
  if (!haveChromium) return;
  if (process.env.DATABASE_URL) db = await openTestDb();
  const dataDir = tempDir("tt-ui-long-");
  const k = generateKey("long.tmuxtrail/log", new Uint8Array(32).fill(5));
  writeFileSync(join(dataDir, "log.key"), `${k.signerKey}\n`, { mode: 0o600 });
  log = await startLogServer(
    {
      ...DEFAULTS,
      port: 0,
      dataDir,
      keyFile: join(dataDir, "log.key"),
      databaseUrl: db?.url,
      databaseSchema: db?.schema,
      adminToken: ADMIN,
      checkpointIntervalMs: 100,
      witnesses: [],
      witnessQuorum: 0,
    },
    () => {},
  );
  await submit(longSession());
  await submit([
    makeSubmission({ host: HOST, server: SERVER, session: "$2", pane: "%5", seq: 0, time: at(7) }),
  ]);
  reader = (await log.ctx.auth.create("long reader", ["read"], null)).token;
  proxy = await lyingProxy(log.url, (path, real) => lie(path, real));
  const proc = run(["ui", "--log", proxy.url, "--port", "0"]);
  ui = { proc, base: (await proc.waitFor(/web UI on (http:\/\/\S+)\/ui/, 60_000))[1]! };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  ui?.proc.child.kill("SIGTERM");
  await ui?.proc.exited;
  await proxy?.close();
  await log?.close();
  await db?.close();
});

/** A tab signed in on `base` with the log's key pinned (no witnesses: quorum 0). */
async function signedIn(base: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/ui`);
  await page.fill('input[name="token"]', reader);
  await page.fill('input[name="logKey"]', log.verifierKey);
  await page.fill('textarea[name="witnessKeys"]', "");
  await page.fill('input[name="quorum"]', "0");
  await page.click('form[data-form="signin"] button[type="submit"]');
  await page.locator('table[data-list="sessions"]').waitFor();
  return { page, errors };
}

/** The windows the page asks for, as the export query it sends for each. */
async function windowQueries(): Promise<string[]> {
  const meta = (await (
    await fetch(`${log.url}/v1/sessions/${LONG}`, { headers: { Authorization: `Bearer ${ADMIN}` } })
  ).json()) as { start: string; end: string; events: number };
  return planWindows(meta, PER_WINDOW).map((w) => {
    const q = new URLSearchParams({ format: "v3" });
    if (w.since) q.set("since", w.since);
    if (w.until) q.set("until", w.until);
    return `/v1/sessions/${LONG}/export?${q}`;
  });
}

/** A window's export path without `size` (the page adds the first window's checkpoint size). */
const base = (path: string) => path.replace(/&size=\d+/, "");

const mb = (b: number | null) => (b === null ? "n/a" : `${(b / 2 ** 20).toFixed(1)} MB`);

describe.runIf(haveChromium)("web UI: a long session, by window", () => {
  it("plays its first window before the rest is verified, counts up, ends verified, stays responsive", {
    timeout: 300_000,
  }, async () => {
    expect(await windowQueries()).toHaveLength(6);
    const { page, errors } = await signedIn(log.url);
    const f = await measureSessionLoad(page, `${log.url}/ui/sessions/${LONG}?per-window=500`);
    console.log(
      `ui-long: ${EVENTS} events in 6 windows: first frame ${f.firstFrameMs} ms (${f.windowsAtFirstFrame.windows} of ${f.windowsAtFirstFrame.of} windows verified), verdict ${f.verdictMs} ms (${f.verdict}); main heap peak ${mb(f.mainHeapPeakBytes)}, after GC ${mb(f.mainHeapAfterGcBytes)}, worker heap peak ${mb(f.workerHeapPeakBytes)}; 20 ms timer fired ${f.timerTicks} times, longest gap ${f.maxTimerGapMs} ms`,
    );
    expect(f.verdict).toBe("ok");
    expect(f.badge).toBe("✓ verified · log key long.tmuxtrail/log, no witnesses");
    // The first window was ready to play when 1 of the 6 was verified, before the verdict.
    expect(f.windowsAtFirstFrame).toEqual({ windows: 1, of: 6 });
    expect(f.firstFrameMs).toBeLessThan(f.verdictMs);
    // The badge counted up (its texts are sampled: at least the first and the last are seen).
    const progress = f.badges.filter((b) => b.startsWith("Verifying… verified"));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatch(
      /^Verifying… verified [\d,]+ of 3,000 events \([1-5] of 6 windows\)$/,
    );
    // The page's timer kept firing while the worker verified the other five windows.
    expect(f.timerTicks).toBeGreaterThan(0);
    expect(f.maxTimerGapMs).toBeLessThan(1000);
    const checks = await page.locator("ul.checks").textContent();
    expect(checks).toContain("3000 of 3000 events included");
    expect(checks).toContain("6 of 6 time windows verified and meeting the one before");
    expect(checks).toContain("pane %0: complete, seq 0..1499");
    expect(checks).toContain("pane %1: complete, seq 0..1499");
    expect(await page.locator('[data-list="windows"] li[data-state="ok"]').count()).toBe(6);
    // Every window's commands, in time order.
    const commands = page.locator('ol[data-list="commands"] li[data-index]');
    expect(await commands.count()).toBe(29);
    expect(await commands.first().textContent()).toContain("make step-100");
    expect(await commands.last().textContent()).toContain("make step-2900");
    // Playback spans the windows: the end of pane %0 is the last window's output.
    const player = page.locator('.player[data-pane="%0"]');
    await player.locator('input[data-action="seek"]').evaluate((el: HTMLInputElement) => {
      el.value = el.max;
      el.dispatchEvent(new Event("input"));
    });
    await expect
      .poll(() => player.locator(".xterm-rows").textContent(), { timeout: 10_000 })
      .toContain("pane %0 line 2996");
    expect(await player.getAttribute("data-state")).toBe("ended");
    // One pane shows at a time; the other's tab shows it.
    expect(await page.locator('.player[data-pane="%1"]').isHidden()).toBe(true);
    await page.click('button[data-tab="%1"]');
    expect(await player.isHidden()).toBe(true);
    expect(await page.locator('.player[data-pane="%1"]').isVisible()).toBe(true);
    await page.click('button[data-tab="%0"]');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "ui-long-session.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("plays the first window while the rest verifies; a jump to a window not loaded yet loads it next", {
    timeout: 300_000,
  }, async () => {
    const queries = await windowQueries();
    // Every window but the first answers 800 ms late: the page plays and is asked meanwhile.
    lie = async (path) => {
      if (path.startsWith(`/v1/sessions/${LONG}/export`) && base(path) !== queries[0]) {
        await new Promise((r) => setTimeout(r, 800));
      }
      return undefined;
    };
    try {
      const { page, errors } = await signedIn(ui.base);
      proxy.paths.length = 0;
      await page.goto(`${ui.base}/ui/sessions/${LONG}?per-window=500`);
      const badge = page.locator("[data-verify]");
      const screen = page.locator('.player[data-pane="%0"] .xterm-rows');
      await page.locator('.player[data-pane="%0"]').waitFor();
      // The first window plays while the session is still being verified.
      await page.selectOption('.player[data-pane="%0"] select[data-action="speed"]', "8");
      await page.click('.player[data-pane="%0"] button[data-action="play"]');
      await expect.poll(() => screen.textContent(), { timeout: 5_000 }).toContain("pane %0 line 4");
      expect(await badge.getAttribute("data-verify")).toBe("pending");
      expect(await badge.textContent()).toMatch(
        /^Verifying… verified [\d,]+ of 3,000 events \([1-5] of 6 windows\)$/,
      );
      await page.click('[data-list="windows"] li[data-window="5"]');
      await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 60_000 }).toBe("ok");
      const exports = proxy.paths.filter((p) => p.includes("/export"));
      // After the first, every window is asked at the first one's checkpoint: one tree.
      expect(exports.filter((p) => /&size=\d+$/.test(p))).toHaveLength(queries.length - 1);
      const asked = exports.map(base);
      expect(asked.toSorted()).toEqual(queries.toSorted());
      // The last window came right after the one in flight when the reader jumped.
      expect(asked.indexOf(queries[5]!)).toBeLessThan(asked.indexOf(queries[3]!));
      await expect
        .poll(() => screen.textContent(), { timeout: 10_000 })
        .toMatch(/pane %0 line 2[5-9]\d\d/);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      lie = () => undefined;
    }
  });

  it("a window answered with another window or another session fails, naming the window", {
    timeout: 300_000,
  }, async () => {
    const queries = await windowQueries();
    const other = await fetch(`${log.url}/v1/sessions/${OTHER}/export?format=v3`, {
      headers: { Authorization: `Bearer ${ADMIN}` },
    });
    const otherBody = new Uint8Array(await other.arrayBuffer());
    // Windows 2 and 3 are in flight together: window 3's answer waits for window 2's.
    let gotSecond: (a: Answer) => void = () => {};
    const second = new Promise<Answer>((r) => {
      gotSecond = r;
    });
    const { page, errors } = await signedIn(ui.base);
    const badge = page.locator("[data-verify]");

    // Window 3 answered with window 2 (a valid window of this session, not the one asked for).
    lie = (path, real) => {
      if (base(path) === queries[1]) gotSecond(real);
      return base(path) === queries[2] ? second : undefined;
    };
    const f = await measureSessionLoad(page, `${ui.base}/ui/sessions/${LONG}?per-window=500`);
    expect(f.verdict).toBe("fail");
    expect(f.badge).toContain("✗ verification failed: window 3 of 6 (");
    const failures = await page.locator("ul.checks li.fail[data-window]").allTextContents();
    expect(failures.join("\n")).toMatch(/window 3 of 6 .*: window: asked for .* the log answered/);
    expect(failures.join("\n")).toMatch(
      /window 3 of 6 .*: meets: pane %0 starts at seq \d+, the window before it ends at seq \d+/,
    );
    expect(
      await page.locator('[data-list="windows"] li[data-window="2"]').getAttribute("data-state"),
    ).toBe("fail");

    // Window 4 answered with another session's bundle.
    lie = (path) => (base(path) === queries[3] ? { status: 200, body: otherBody } : undefined);
    await page.goto(`${ui.base}/ui/sessions/${LONG}?per-window=500`);
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 60_000 }).toBe("fail");
    expect(await badge.textContent()).toContain("✗ verification failed: window 4 of 6 (");
    expect(await page.locator("ul.checks").textContent()).toContain(
      `header: this is session ${OTHER}, not the session ${LONG} asked for`,
    );
    lie = () => undefined;
    expect(errors).toEqual([]);
    await page.close();
  });

  it("an event whose stored content was altered fails, named with its window", {
    timeout: 300_000,
  }, async () => {
    // Event 2101 (pane %1) lies in the fifth window.
    await alterContent(log.ctx.sql, 2101, utf8Encode("EDITED"));
    const { page, errors } = await signedIn(log.url);
    const f = await measureSessionLoad(page, `${log.url}/ui/sessions/${LONG}?per-window=500`);
    expect(f.verdict).toBe("fail");
    expect(f.badge).toMatch(
      /^✗ verification failed: window 5 of 6 \(.*\): event #2101: content is 6 bytes/,
    );
    expect(await page.locator('[data-failure="2101"]').getAttribute("data-window")).toBe("4");
    expect(await page.locator('[data-tampered="2101"]').textContent()).toContain(
      "Event #2101 (output in pane %1) failed verification",
    );
    expect(await page.locator('[data-list="windows"] li[data-state="fail"]').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });
});
