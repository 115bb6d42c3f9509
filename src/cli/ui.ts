// `tmuxtrail ui --log URL`: the web UI of this installation, served on this machine and pointed at
// a log's read API. The UI a log serves at /ui is code the log's operator chose: a hostile one
// could serve a page that always says "verified". This command serves the UI built from this
// checkout's src/ui instead, and passes only the read API through to the log (GET of /, /v1/…,
// /checkpoint, /tile/…), so the verification that runs in the browser is code the auditor installed.
//
// What the log answers is data, never a page of this origin (whose localStorage holds the pinned
// trust policy): a passed-through answer keeps only a JSON, text or binary content type and gets
// a sandboxing Content-Security-Policy, so an answer dressed as HTML cannot run script here.

import { Hono } from "hono";
import { uiRoutes, warnIfUiMissing } from "../api/routes/ui.ts";
import { printable } from "../core/printable.ts";
import { listen } from "../lib/listen.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

/** The read API the UI uses, passed through to the log. */
const PASSED = [
  /^\/$/,
  /^\/v1\/sessions(\/[A-Za-z0-9_-]+(\/export)?)?$/,
  /^\/checkpoint$/,
  /^\/tile\//,
];
/** The only content types an answer is passed on with: one of these, exactly, whatever else was sent. */
const SAFE_TYPES: Record<string, string> = {
  "application/json": "application/json; charset=utf-8",
  "text/plain": "text/plain; charset=utf-8",
};

/** The canonical type for the upstream one's essence (before ";"), else binary data. */
function safeType(upstream: string | null): string {
  const essence = (upstream ?? "").split(";")[0]!.trim().toLowerCase();
  return SAFE_TYPES[essence] ?? "application/octet-stream";
}
const UPSTREAM_TIMEOUT_MS = 120_000;

/** The local server: the UI from `uiDir`, the read API from `logUrl`. */
export function uiProxyApp(logUrl: string, uiDir?: string): Hono {
  const base = logUrl.replace(/\/+$/, "");
  const app = new Hono();
  app.route("/", uiRoutes(uiDir));
  app.all("*", async (c) => {
    const path = c.req.path;
    if (!PASSED.some((r) => r.test(path))) {
      return c.json(
        { error: { code: "not-found", message: `not passed to the log: ${path}` } },
        404,
      );
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.json(
        { error: { code: "method-not-allowed", message: "this UI only reads the log" } },
        405,
      );
    }
    const auth = c.req.header("Authorization");
    let upstream: Response;
    try {
      upstream = await fetch(`${base}${path}${new URL(c.req.url).search}`, {
        method: c.req.method,
        headers: auth ? { Authorization: auth } : {},
        redirect: "error",
        signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
      });
    } catch (e) {
      return c.json(
        {
          error: {
            code: "unavailable",
            message: `the log did not answer: ${(e as Error).message}`,
          },
        },
        502,
      );
    }
    const headers = new Headers({
      // Never the log's string as sent: "text/plain, text/html" would pass a prefix check.
      "Content-Type": safeType(upstream.headers.get("Content-Type")),
      "Content-Security-Policy": "default-src 'none'; sandbox",
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "no-store",
    });
    const retry = upstream.headers.get("Retry-After");
    if (retry) headers.set("Retry-After", retry);
    return new Response(upstream.body, { status: upstream.status, headers });
  });
  return app;
}

export const uiCommand: Command = {
  name: "ui",
  help: `Usage: tmuxtrail ui --log URL [--port N] [--host ADDR]

Serves the web UI built from this installation (not the one the log serves at /ui, which is
whatever the log's operator put there) at http://ADDR:N/ui, and passes the log's read API
(GET /, /v1/sessions…, /checkpoint, /tile/…) through to URL. Sign in with a read token and pin
the log's verifier key, witness keys and quorum you got out of band: verification runs in your
browser, in code you installed. Nothing but reads is passed on.

Flags:
  --log URL      the log's base URL (http or https)
  --port N       port to listen on (default 8090; 0 picks a free one)
  --host ADDR    address to listen on (default 127.0.0.1: this machine only)

Example:
  tmuxtrail ui --log https://log.example.com
  open http://127.0.0.1:8090/ui`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      log: { type: "string" },
      port: { type: "string", default: "8090" },
      host: { type: "string", default: "127.0.0.1" },
    });
    if (!values.log) throw new UsageError("--log URL is required");
    let url: URL;
    try {
      url = new URL(values.log);
    } catch {
      throw new UsageError(`--log ${values.log} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UsageError("--log must be an http or https URL");
    }
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) {
      throw new UsageError("--port must be a port number (0 to 65535)");
    }
    warnIfUiMissing((m) => console.error(`tmuxtrail ui: ${m}`));
    const app = uiProxyApp(url.href);
    const { server, url: local } = await listen(app.fetch, Number(values.port), values.host);
    console.log(
      `tmuxtrail ui: this installation's web UI on ${local}/ui, reading ${printable(url.href)}`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    return 0;
  },
};
