// Measures the web UI opening a session (the bench's UI row, ui-session.ts, and test/ui/ui-long.test.ts): time to
// the first frame (the first window verified and its panes ready to play), time to the verdict,
// the badge's progress, how responsive the page's main thread stayed meanwhile (a timer on the
// page and its largest gap), and the JS heap (the page's and the verify worker's, sampled over
// CDP every 200 ms, which slows the page a little). The page must already be signed in on `url`'s
// origin with a policy pinned (sessionStorage and localStorage of that tab): see ui-long.test.ts.

import type { Page } from "playwright-core";

export interface SessionLoadFigures {
  /** Milliseconds from the session page's start to the first window's panes ready to play. */
  firstFrameMs: number;
  /** Windows verified when the first frame was ready, of how many. */
  windowsAtFirstFrame: { windows: number; of: number };
  /** Milliseconds from the session page's start to the whole session's verdict. */
  verdictMs: number;
  verdict: "ok" | "fail";
  /** The badge's final text, and every text it showed (sampled every 20 ms). */
  badge: string;
  badges: string[];
  /** The page's 20 ms timer between first frame and verdict: how often it fired, its longest gap. */
  timerTicks: number;
  maxTimerGapMs: number;
  /** The page's JS heap (main thread): the highest sample while loading, and after a GC at the end. */
  mainHeapPeakBytes: number;
  mainHeapAfterGcBytes: number;
  /** The verify worker's JS heap: the highest sample while loading (null if none was taken). */
  workerHeapPeakBytes: number | null;
}

interface PageProbe {
  maxGap: number;
  ticks: number;
  badges: string[];
}

/** Installs the page-side probe (once per page, before navigating to the session). */
async function installProbe(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __load: PageProbe };
    w.__load = { maxGap: 0, ticks: 0, badges: [] };
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      const b = document.querySelector("[data-verify]")?.textContent;
      if (b && w.__load.badges.at(-1) !== b) w.__load.badges.push(b);
      const body = document.body;
      if (body?.dataset.verdict) clearInterval(timer);
      // Counted from the first frame on: the verification that runs while the reader watches.
      if (body?.dataset.firstFrame) {
        w.__load.maxGap = Math.max(w.__load.maxGap, now - last);
        w.__load.ticks++;
      }
      last = now;
    }, 20);
  });
}

type Cdp = Awaited<ReturnType<ReturnType<Page["context"]>["newCDPSession"]>>;

/**
 * The verify worker's used JS heap, asked over CDP (the worker has no performance.memory): the
 * page's session attaches to the worker target (not flattened, so Playwright's own attachment is
 * left alone) and relays Runtime.getHeapUsage. Null when there is no worker.
 */
function workerHeapProbe(cdp: Cdp): () => Promise<number | null> {
  let session: string | undefined;
  let seq = 0;
  const waiting = new Map<number, (size: number | null) => void>();
  cdp.on("Target.receivedMessageFromTarget", (e: { sessionId: string; message: string }) => {
    const m = JSON.parse(e.message) as { id?: number; result?: { usedSize?: number } };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result?.usedSize ?? null);
  });
  return async () => {
    if (!session) {
      const { targetInfos } = (await cdp.send("Target.getTargets")) as {
        targetInfos: { targetId: string; type: string }[];
      };
      const worker = targetInfos.find((t) => t.type === "worker");
      if (!worker) return null;
      session = (
        (await cdp.send("Target.attachToTarget", {
          targetId: worker.targetId,
          flatten: false,
        })) as { sessionId: string }
      ).sessionId;
    }
    const id = ++seq;
    const answer = new Promise<number | null>((r) => {
      waiting.set(id, r);
      setTimeout(() => r(null), 2000);
    });
    await cdp.send("Target.sendMessageToTarget", {
      sessionId: session,
      message: JSON.stringify({ id, method: "Runtime.getHeapUsage" }),
    });
    return answer;
  };
}

/** Opens `url` (a /ui/sessions/<id> page) and measures it until the verdict. */
export async function measureSessionLoad(
  page: Page,
  url: string,
  timeoutMs = 600_000,
): Promise<SessionLoadFigures> {
  await installProbe(page);
  const cdp = await page.context().newCDPSession(page);
  await page.goto(url);
  const workerHeap = workerHeapProbe(cdp);
  let peak = 0;
  let workerPeak: number | null = null;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { usedSize } = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number };
    peak = Math.max(peak, usedSize);
    const w = await workerHeap().catch(() => null);
    if (w !== null) workerPeak = Math.max(workerPeak ?? 0, w);
    if (await page.evaluate(() => Boolean(document.body.dataset.verdict))) break;
    if (Date.now() > deadline) throw new Error(`no verdict within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // No named functions inside: tsx (esbuild's keepNames) would wrap them in a __name the page lacks.
  const page1 = await page.evaluate(() => {
    const badge = document.querySelector("[data-verify]");
    return {
      probe: (window as unknown as { __load: PageProbe }).__load,
      firstFrameMs: Number(document.body.dataset.firstFrame),
      verdictMs: Number(document.body.dataset.verdict),
      first: (performance.getEntriesByName("tmuxtrail:first-frame")[0] as PerformanceMark)
        ?.detail as { windows: number; of: number },
      verdict: badge?.getAttribute("data-verify") as "ok" | "fail",
      badge: badge?.textContent ?? "",
    };
  });

  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number };
  await cdp.detach();
  return {
    firstFrameMs: page1.firstFrameMs,
    windowsAtFirstFrame: page1.first,
    verdictMs: page1.verdictMs,
    verdict: page1.verdict,
    badge: page1.badge,
    badges: page1.probe.badges,
    timerTicks: page1.probe.ticks,
    maxTimerGapMs: Math.round(page1.probe.maxGap),
    mainHeapPeakBytes: Math.max(peak, usedSize),
    mainHeapAfterGcBytes: usedSize,
    workerHeapPeakBytes: workerPeak,
  };
}
