// The web UI in a real browser (Debian's chromium driven by playwright-core; no browser download):
// sign in with a read key, find a session, watch it play, see it verified in the page; then alter
// one stored event as a database superuser could, reload, and see the failure naming that event.
// A screenshot of the session page is kept in test-artifacts/ (not committed) for reviewers.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningLogServer, startLogServer } from "../../src/api/log-server.ts";
import { utf8Encode } from "../../src/core/encoding.ts";
import { generateKey } from "../../src/core/keys.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { DEFAULTS } from "../../src/server/config.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeSubmission } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { type Proc, run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";
import { alterContent } from "../support/stored.ts";

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
let log: RunningLogServer;
let browser: Browser;
/** The log's one witness (quorum 1), a real `tmuxtrail witness` process. */
let witness: { proc: Proc; key: string };
/** A witness key nobody runs. */
const absentWitness = generateKey("absent.witness", new Uint8Array(32).fill(9)).verifierKey;

beforeAll(async () => {
  if (!haveChromium) return;
  if (process.env.DATABASE_URL) db = await openTestDb();
  const dataDir = tempDir("tt-ui-");
  const origin = "ui.tmuxtrail/log";
  const k = generateKey(origin, new Uint8Array(32).fill(7));
  writeFileSync(join(dataDir, "log.key"), `${k.signerKey}\n`, { mode: 0o600 });
  const proc = run(
    [
      "witness",
      "--port",
      "0",
      "--data",
      tempDir("tt-ui-w-"),
      "--log",
      `${origin}=${k.verifierKey}`,
    ],
    { DATABASE_URL: "" },
  );
  const key = (await proc.waitFor(/cosignature key\s+(\S+)/, 60_000))[1]!;
  const url = proc.stdout().match(/listening on (http:\/\/\S+)/)![1]!;
  witness = { proc, key };
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
      witnesses: [`${key}@${url}`],
      witnessQuorum: 1,
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
  witness?.proc.child.kill("SIGTERM");
  await witness?.proc.exited;
  await db?.close();
});

/** A page that records what failed to load (a 4xx or 5xx, or a console error) and page errors. */
async function newPage(): Promise<{ page: Page; failed: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const failed: string[] = [];
  const errors: string[] = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") failed.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return { page, failed, errors };
}

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

    const { page, failed, errors } = await newPage();
    await page.goto(`${log.url}/ui`);
    // Sign in: a wrong token is refused in the form, the right one lands on the session list.
    await page.fill('input[name="token"]', "tt_wrong");
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.getByText("unknown or revoked token").waitFor();
    expect(failed.splice(0)).toEqual([
      expect.stringMatching(/^401 GET .*\/v1\/sessions\?limit=1$/),
      expect.stringMatching(/^console: .*401/),
    ]);
    await page.fill('input[name="token"]', reader.token);
    // The form suggests what the log announces (the user confirms it by signing in).
    expect(await page.inputValue('input[name="logKey"]')).toBe(log.verifierKey);
    expect(await page.inputValue('textarea[name="witnessKeys"]')).toBe(witness.key);
    expect(await page.inputValue('input[name="quorum"]')).toBe("1");
    await page.click('form[data-form="signin"] button[type="submit"]');
    // Anywhere on the session's row opens it, not only the date link.
    await page.locator(`tr[data-session="${SESSION}"] td:nth-child(3)`).click();
    await page.waitForURL(`**/ui/sessions/${SESSION}`);

    const badge = page.locator("[data-verify]");
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("ok");
    // The badge names the policy it checked.
    expect(await badge.textContent()).toBe(
      "✓ verified · log key ui.tmuxtrail/log, 1 of 1 witnesses (" +
        witness.key.slice(0, witness.key.indexOf("+")) +
        ")",
    );
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
    await alterContent(log.ctx.sql, 2, utf8Encode("hello from the EDITED test\r\n"));
    await page.reload();
    await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("fail");
    expect(await badge.textContent()).toContain("event #2");
    expect(await page.locator('[data-failure="2"]').textContent()).toContain(
      "event #2: content is 28 bytes, the leaf commits to 24",
    );
    expect(await page.locator("[data-tampered]").getAttribute("data-tampered")).toBe("2");
    await page.screenshot({ path: join(ARTIFACTS, "ui-session-tampered.png"), fullPage: true });
    expect(errors).toEqual([]);
    // Nothing else failed to load on any of these pages (the browser's own /favicon.ico included).
    expect(failed).toEqual([]);
    await page.close();
  });

  it("verifies with the user's pinned policy only: a bundle or the log cannot lower it; sizes are clamped", {
    timeout: 120_000,
  }, async () => {
    // A session whose host claims a terminal of 100000 x 100000, then resizes to it again.
    const base = { host: HOST, server: SERVER, session: "$2", pane: "%7", user: "bob" };
    await submit([
      {
        ...makeSubmission({ ...base, seq: 0, type: "pane-open", time: at(0) }),
        size: { cols: 100_000, rows: 100_000 },
      },
      makeSubmission({ ...base, seq: 1, time: at(100), content: "$ echo big\r\nbig\r\n" }),
      {
        ...makeSubmission({ ...base, seq: 2, type: "resize", time: at(200) }),
        size: { cols: 99_999, rows: 99_999 },
      },
      makeSubmission({ ...base, seq: 3, time: at(300), content: "still here\r\n" }),
    ]);
    const session2 = sessionId(HOST, SERVER, "$2");
    const reader = await log.ctx.auth.create("ui policy", ["read"], null);
    const { page, failed, errors } = await newPage();
    const badge = page.locator("[data-verify]");
    const open = async () => {
      await page.goto(`${log.url}/ui/sessions/${session2}`);
      await expect
        .poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 })
        .not.toBe("pending");
    };
    await page.goto(`${log.url}/ui`);
    await page.fill('input[name="token"]', reader.token);
    // What the form refuses is never pinned: a private key, a quorum above the keys given.
    await page.fill('textarea[name="witnessKeys"]', `${witness.key}\nPRIVATE+KEY+x+y`);
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.getByText("private signer key").waitFor();
    await page.fill('textarea[name="witnessKeys"]', witness.key);
    await page.fill('input[name="quorum"]', "2");
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.getByText("the quorum must be a whole number from 0 to").waitFor();
    expect(await page.evaluate(() => localStorage.getItem("tmuxtrail.logKey"))).toBeNull();

    // The user requires two witnesses, one of which the log does not have: the bundle (which
    // says quorum 1) does not lower that, and the page says under which policy it failed.
    await page.fill('textarea[name="witnessKeys"]', `${witness.key}\n${absentWitness}`);
    await page.fill('input[name="quorum"]', "2");
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.locator('table[data-list="sessions"]').waitFor();
    await open();
    expect(await badge.getAttribute("data-verify")).toBe("fail");
    expect(await badge.textContent()).toContain("checkpoint:");
    expect(await badge.getAttribute("data-policy")).toBe(
      `log key ui.tmuxtrail/log, 2 of 2 witnesses (${witness.key.split("+")[0]}, absent.witness)`,
    );
    expect(await page.locator("ul.checks").textContent()).toContain(
      "witness quorum 2 of 2 you pinned",
    );

    // The trust page shows the pinned policy; 1 of those 2 verifies, with a warning that it does
    // not rule out a split view.
    await page.click("a.trust-link");
    await page.waitForURL("**/ui/trust");
    expect(await page.locator("[data-policy]").textContent()).toContain("2 of 2 witnesses");
    expect(await page.locator("p[data-quorum-warning]").isHidden()).toBe(true);
    await page.fill('input[name="quorum"]', "1");
    await page.click('form[data-form="trust"] button[type="submit"]');
    await expect
      .poll(() => page.locator("[data-policy]").textContent())
      .toContain("1 of 2 witnesses");
    expect(await page.locator("p[data-quorum-warning]").textContent()).toContain(
      "does not rule out a split view",
    );
    await open();
    expect(await badge.getAttribute("data-verify")).toBe("ok");
    expect(await page.locator("li[data-quorum-warning]").textContent()).toContain(
      "require more than half, at least 2",
    );

    // A host's terminal size is clamped: the tab draws 500 x 200 and says so.
    const player = page.locator('.player[data-pane="%7"]');
    expect(await player.getAttribute("data-size")).toBe("500x200");
    expect(await player.locator("[data-clamped]").textContent()).toContain("100000 × 100000");
    await page.click('.player[data-pane="%7"] button[data-action="play"]');
    await expect.poll(() => player.getAttribute("data-state"), { timeout: 20_000 }).toBe("ended");
    await expect
      .poll(() => player.locator(".xterm-rows").textContent(), { timeout: 10_000 })
      .toContain("still here");
    // After the resize event too: the terminal the player draws is still 500 x 200.
    expect(await player.getAttribute("data-size")).toBe("500x200");
    expect(await player.locator(".xterm-rows > div").count()).toBe(200);

    // Signing in again shows the pinned policy, not what the log announces.
    await page.click("#signout");
    await page.locator('form[data-form="signin"]').waitFor();
    expect(await page.inputValue('textarea[name="witnessKeys"]')).toBe(
      `${witness.key}\n${absentWitness}`,
    );
    expect(await page.inputValue('input[name="quorum"]')).toBe("1");
    expect(errors).toEqual([]);
    expect(failed.filter((f) => !/401|private|quorum/.test(f))).toEqual([]);
    await page.close();
  });

  it("`tmuxtrail ui --log URL` serves this installation's UI on this machine; a session verifies through it", {
    timeout: 120_000,
  }, async () => {
    const ui = run(["ui", "--log", log.url, "--port", "0"]);
    try {
      const base = (await ui.waitFor(/web UI on (http:\/\/\S+)\/ui/, 60_000))[1]!;
      const reader = await log.ctx.auth.create("ui local", ["read"], null);
      const { page, failed, errors } = await newPage();
      await page.goto(`${base}/ui`);
      await page.fill('input[name="token"]', reader.token);
      await page.fill('input[name="logKey"]', log.verifierKey);
      await page.click('form[data-form="signin"] button[type="submit"]');
      await page.locator(`tr[data-session="${sessionId(HOST, SERVER, "$2")}"]`).click();
      const badge = page.locator("[data-verify]");
      await expect.poll(() => badge.getAttribute("data-verify"), { timeout: 20_000 }).toBe("ok");
      expect(errors).toEqual([]);
      expect(failed).toEqual([]);
      await page.close();
    } finally {
      ui.child.kill("SIGTERM");
      await ui.exited;
    }
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
    // The verify worker: a script of the UI's origin, under the same CSP, which lets the page
    // start it (worker-src 'self') and it fetch the log's API (connect-src 'self'), nothing else.
    const worker = await fetch(`${log.url}/ui/assets/verify-worker.js`);
    expect(worker.headers.get("content-type")).toMatch(/javascript/);
    expect(html.headers.get("content-security-policy")).toContain("worker-src 'self'");
    expect(worker.headers.get("content-security-policy")).toContain("connect-src 'self';");
    const icon = await fetch(`${log.url}/ui/assets/icon.svg`);
    expect([icon.status, icon.headers.get("content-type")]).toEqual([200, "image/svg+xml"]);
    expect(text).toContain('rel="icon" href="/ui/assets/icon.svg"');
  });
});
