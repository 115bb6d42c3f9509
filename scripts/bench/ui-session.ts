// The web UI row of the bench (issue 19): a real Chromium (playwright-core, /usr/bin/chromium)
// signs in to the log serving the --session-events session with its key pinned and no witnesses,
// opens the session page and measures (ui-load.ts) the time to the first frame, to the whole
// session's verdict, and the page's and the verify worker's JS heap. Without Chromium the row says
// SKIPPED and why.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { measureSessionLoad } from "./ui-load.ts";

const CHROMIUM = "/usr/bin/chromium";

export interface UiSessionTarget {
  url: string;
  token: string;
  logKey: string;
  sessionId: string;
}

export type UiFigures = Awaited<ReturnType<typeof measureSessionLoad>>;

/** The figures of one session page load, or why none could be taken. */
export async function measureUiSession(t: UiSessionTarget): Promise<UiFigures | string> {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${t.url}/ui`);
    await page.fill('input[name="token"]', t.token);
    await page.fill('input[name="logKey"]', t.logKey);
    await page.fill('textarea[name="witnessKeys"]', "");
    await page.fill('input[name="quorum"]', "0");
    await page.click('form[data-form="signin"] button[type="submit"]');
    await page.locator('table[data-list="sessions"]').waitFor();
    return await measureSessionLoad(page, `${t.url}/ui/sessions/${t.sessionId}`, 120_000);
  } finally {
    await browser.close();
  }
}
