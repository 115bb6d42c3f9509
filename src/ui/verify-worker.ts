// The web UI's verify worker (dist/ui/verify-worker.js, a second esbuild entry): fetches one time
// window of a session's v3 bundle with the reader's token, verifies it with src/core's
// verifySessionBundle under the policy the page pinned (window-verify.ts), and posts back a
// summary, so the page stays responsive however long the session. It trusts only the keys in the
// request the page sends; it never reads what the log announces. The bundle text is dropped once
// verified. Served from /ui/assets like app.js, under the same Content-Security-Policy (worker
// scripts fall under script-src 'self'; its fetches under connect-src 'self').

import type { TimeWindow } from "../core/time-window.ts";
import { verifyWindow, type WindowSummary, type WindowTrust } from "./window-verify.ts";

export interface VerifyRequest {
  id: number;
  /** The export's path on this origin, with its query. */
  path: string;
  token: string | null;
  trust: WindowTrust;
  window: TimeWindow;
}

export type VerifyAnswer =
  | { id: number; summary: WindowSummary; fetchMs: number; verifyMs: number }
  | { id: number; error: string; status?: number };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<VerifyRequest>) => void) | null;
  postMessage(m: VerifyAnswer): void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function answer(req: VerifyRequest): Promise<VerifyAnswer> {
  const t0 = performance.now();
  let text = "";
  // A session not yet covered by a checkpoint answers 409 with Retry-After: wait a little.
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(req.path, {
      headers: req.token ? { Authorization: `Bearer ${req.token}` } : {},
    });
    text = await res.text();
    if (res.status === 409 && attempt < 10) {
      await sleep(1000);
      continue;
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
      } catch {}
      return { id: req.id, error: message.slice(0, 300), status: res.status };
    }
    break;
  }
  const t1 = performance.now();
  const summary = verifyWindow(text, req.trust, req.window);
  return { id: req.id, summary, fetchMs: t1 - t0, verifyMs: performance.now() - t1 };
}

scope.onmessage = (e) => {
  answer(e.data).then(
    (a) => scope.postMessage(a),
    (err: unknown) =>
      scope.postMessage({ id: e.data.id, error: (err as Error)?.message ?? String(err) }),
  );
};
