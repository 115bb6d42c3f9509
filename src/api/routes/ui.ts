// The web UI (/ui): a single-page app built from src/ui into dist/ui at install (`npm ci`), served
// by the log itself with no CDN and a strict Content-Security-Policy. Every path under /ui that is
// not an asset answers index.html, so /ui/sessions/<id> survives a reload. The page reads the API
// with the bearer token the user signs in with; its content reads are audited like any other.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Hono } from "hono";
import { ROOT } from "../../root.ts";
import { ApiError } from "../errors.ts";
import type { Env } from "../http.ts";

export const UI_DIR = join(ROOT, "dist", "ui");

/**
 * Says so when the UI is not built: `npm ci` builds it (the `prepare` script, with esbuild, a
 * development dependency); a process never builds it itself, so nothing at run time needs esbuild
 * or the scripts/ folder. /ui answers 503 `ui-not-built` until then.
 */
export function warnIfUiMissing(say: (msg: string) => void, dir = UI_DIR): void {
  if (!existsSync(join(dir, "index.html")))
    say(`the web UI is not built (${dir}): run \`npm run build\`; /ui answers 503 until then`);
}

const ASSETS: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.js.map": "application/json",
  "app.css": "text/css; charset=utf-8",
  "app.js.LEGAL.txt": "text/plain; charset=utf-8",
  // The verify worker (src/ui/verify-worker.ts): a script of this origin, so script-src 'self'
  // lets the page start it and connect-src 'self' lets it fetch the session's windows.
  "verify-worker.js": "text/javascript; charset=utf-8",
  "verify-worker.js.map": "application/json",
  "verify-worker.js.LEGAL.txt": "text/plain; charset=utf-8",
  // The page names it, so browsers do not ask for /favicon.ico (a 404 on every load).
  "icon.svg": "image/svg+xml",
};

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // The verify worker (dist/ui/verify-worker.js), and nothing else.
  "worker-src 'self'",
  // xterm.js writes its theme into a <style> element.
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function uiRoutes(dir = UI_DIR) {
  const app = new Hono<Env>();
  const cache = new Map<string, Uint8Array>();
  const file = async (name: string) => {
    let data = cache.get(name);
    if (!data) {
      try {
        data = new Uint8Array(await readFile(join(dir, name)));
      } catch {
        throw new ApiError(
          503,
          "ui-not-built",
          "the web UI is not built: run `npm run build` where tmuxtrail is installed",
        );
      }
      cache.set(name, data);
    }
    return data;
  };
  const headers = (type: string) => ({
    "Content-Type": type,
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
  });

  app.get("/ui/assets/:name", async (c) => {
    const name = c.req.param("name");
    const type = ASSETS[name];
    if (!type) throw new ApiError(404, "not-found", `no UI asset ${name}`);
    const data = await file(name);
    return c.body(data.slice().buffer as ArrayBuffer, 200, headers(type));
  });
  const page = async () =>
    new Response((await file("index.html")).slice().buffer as ArrayBuffer, {
      headers: headers("text/html; charset=utf-8"),
    });
  app.get("/ui", () => page());
  app.get("/ui/*", () => page());
  return app;
}
