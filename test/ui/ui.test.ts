// The web UI in a real browser (Debian's chromium driven by playwright-core; no browser download):
// sign in with a read key, find a session, watch it play, see it verified in the page; then alter
// one stored event as a database superuser could, reload, and see the failure naming that event.
// A screenshot of the session page is kept in test-artifacts/ (not committed) for reviewers.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionId } from "../../src/log/session-id.ts";
import { DEFAULTS } from "../../src/server/config.ts";
import { type RunningLog, startLog } from "../../src/server/log.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { tempDir } from "../support/serve.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `\n*** SKIPPING the browser test: ${CHROMIUM} is missing. Install it with \`apt-get install -y chromium\` (.ci/run does). ***\n`,
  );
}

const HOST = "ui-host";
const SERVER = "default@1764050000";
const SESSION = sessionId(HOST, SERVER, "$1");
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");

let db: TestDb | undefined;
let log: RunningLog;
let browser: Browser;

beforeAll(async () => {
  if (!haveChromium) return;
  if (process.env.DATABASE_URL) db = await openTestDb();
  log = await startLog(
    {
      ...DEFAULTS,
      port: 0,
      dataDir: tempDir("tt-ui-"),
      databaseUrl: db?.url,
      databaseSchema: db?.schema,
      adminToken: ADMIN,
      checkpointIntervalMs: 100,
      witnesses: [],
      witnessQuorum: 0,
    },
    () => {},
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await log?.close();
  await db?.close();
});

const at = (ms: number) => new Date(Date.UTC(2026, 10, 24, 19, 0, 0) + ms).toISOString();

async function submit(events: unknown[]): Promise<void> {
  const res = await fetch(`${log.url}/v1/events?wait=checkpoint`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(events),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe.runIf(haveChromium)("web UI", () => {
  it("plays a session, verified in the browser; a tampered event is named after a reload", {
    timeout: 120_000,
  }, async () => {
    const base = { host: HOST, server: SERVER, session: "$1", pane: "%0", user: "alice" };
    await submit([
      {
        ...makeSubmission({ ...base, seq: 0, type: "pane-open", time: at(0) }),
        size: { cols: 100, rows: 20 },
      },
      makeSubmission({ ...base, seq: 1, time: at(100), content: "$ echo hello\r\n" }),
      makeSubmission({ ...base, seq: 2, time: at(400), content: "hello from the ui test\r\n" }),
      makeSubmission({
        ...base,
        seq: 3,
        type: "command",
        time: at(500),
        content: JSON.stringify({
          cwd: "/home/alice",
          end: at(450),
          exit: 0,
          line: "echo hello",
          start: at(90),
        }),
      }),
      makeSubmission({ ...base, seq: 4, time: at(3000), content: "$ exit\r\n" }),
      makeSubmission({ ...base, seq: 5, type: "pane-close", time: at(3100) }),
    ]);
    const reader = await log.ctx.auth.create("ui auditor", ["read"], null);

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${log.url}/ui`);
    // Sign in: a wrong token is refused in the form, the right one lands on the session list.
    await page.fill('input[name="token"]', "tt_wrong");
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.getByText("unknown or revoked token").waitFor();
    await page.fill('input[name="token"]', reader.token);
    expect(await page.inputValue('input[name="logKey"]')).toBe(log.verifierKey);
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.locator(`tr[data-session="${SESSION}"] a`).click();
    await page.waitForURL(`**/ui/sessions/${SESSION}`);

    const badge = page.locator("[data-verify]");
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("ok");
    expect(await badge.textContent()).toContain("verified");
    const checks = await page.locator("ul.checks").textContent();
    expect(checks).toContain("6 of 6 events included");
    expect(checks).toContain("pane %0: complete, seq 0..5");

    // Play at 8x and read the pane's text off the terminal.
    await page.selectOption('.player[data-pane="%0"] select[data-action="speed"]', "8");
    await page.click('.player[data-pane="%0"] button[data-action="play"]');
    await expect
      .poll(() => page.locator('.player[data-pane="%0"]').getAttribute("data-state"), {
        timeout: 20_000,
      })
      .toBe("ended");
    // xterm.js renders what was written on its next frame: poll the screen.
    const screen = () => page.locator('.player[data-pane="%0"] .xterm-rows').textContent();
    await expect.poll(screen, { timeout: 10_000 }).toContain("hello from the ui test");
    await expect.poll(screen, { timeout: 10_000 }).toContain("$ exit");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "ui-session.png"), fullPage: true });
    // The command timeline: clicking a command jumps to that moment of the pane.
    const command = page.locator('ol[data-list="commands"] li[data-index="3"]');
    expect(await command.textContent()).toContain("echo hello");
    expect(await command.textContent()).toContain("exit 0");
    await page.selectOption('.player[data-pane="%0"] select[data-action="speed"]', "1");
    await command.click();
    expect(await page.locator('.player[data-pane="%0"]').getAttribute("data-state")).toBe(
      "playing",
    );

    // The URL survives a reload.
    await page.reload();
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("ok");

    // A superuser alters the stored output of event #3; the page names it after a reload.
    await log.ctx.sql.begin(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = replica");
      await tx.query(
        `UPDATE payloads SET content = convert_to('hello from the EDITED test' || chr(13) || chr(10), 'UTF8')
          WHERE leaf_hash = (SELECT leaf_hash FROM leaves WHERE idx = 2)`,
      );
    });
    await page.reload();
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("fail");
    expect(await badge.textContent()).toContain("event #2");
    expect(await page.locator('[data-failure="2"]').textContent()).toContain(
      "event #2: content is 28 bytes, the leaf commits to 24",
    );
    expect(await page.locator("[data-tampered]").getAttribute("data-tampered")).toBe("2");
    await page.screenshot({ path: join(ARTIFACTS, "ui-session-tampered.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("serves every asset itself, with a strict CSP, and deep links to index.html", async () => {
    const html = await fetch(`${log.url}/ui/sessions/${SESSION}`);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-security-policy")).toContain("default-src 'none'");
    const text = await html.text();
    expect(text).not.toMatch(/https?:\/\//);
    expect((await fetch(`${log.url}/ui/assets/app.js`)).headers.get("content-type")).toMatch(
      /javascript/,
    );
    expect((await fetch(`${log.url}/ui/assets/nope.js`)).status).toBe(404);
  });
});
