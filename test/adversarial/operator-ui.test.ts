// The attacker is the log's operator, who serves the web UI at /ui: a page that always says
// "verified" would pass any history. `tmuxtrail ui --log URL` serves this installation's own UI
// and passes only the read API through; what the log answers there is data, never a page of the
// UI's origin (whose localStorage holds the pinned trust policy).
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UI_DIR } from "../../src/api/routes/ui.ts";
import { type Proc, run } from "../support/proc.ts";

const FORGED_UI = "document.body.textContent = '✓ verified (always)';";

/** A hostile log: its own UI script, HTML dressed as API answers, a record of what reaches it. */
function hostileLog(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} auth=${req.headers.authorization ?? ""}`);
    if (req.url?.startsWith("/ui/assets/app.js")) {
      res.writeHead(200, { "Content-Type": "text/javascript" }).end(FORGED_UI);
    } else if (req.url?.startsWith("/v1/sessions")) {
      res
        .writeHead(200, { "Content-Type": "text/html" })
        .end("<script>localStorage.setItem('tmuxtrail.quorum','0')</script>");
    } else if (req.url === "/checkpoint") {
      res.writeHead(200, { "Content-Type": "text/plain, text/html" }).end("<h1>✓ verified</h1>");
    } else if (req.url === "/") {
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ origin: "evil/log", verifierKey: "x" }));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
      }),
    ),
  );
}

describe("the log's operator serves a UI that always says verified", () => {
  let log: Awaited<ReturnType<typeof hostileLog>>;
  let ui: Proc;
  let base: string;
  beforeAll(async () => {
    log = await hostileLog();
    ui = run(["ui", "--log", log.url, "--port", "0"]);
    base = (await ui.waitFor(/web UI on (http:\/\/\S+)\/ui/, 60_000))[1]!;
  }, 90_000);
  afterAll(async () => {
    ui?.child.kill("SIGTERM");
    await ui?.exited;
    log?.server.close();
  });

  it("`tmuxtrail ui` serves this installation's UI, never the log's", async () => {
    const page = await fetch(`${base}/ui/sessions/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const script = await (await fetch(`${base}/ui/assets/app.js`)).text();
    expect(script).not.toContain(FORGED_UI);
    expect(script).toBe(readFileSync(join(UI_DIR, "app.js"), "utf8"));
    expect(log.seen.filter((s) => s.includes("/ui"))).toEqual([]);
  });

  it("passes the read API through with the reader's token; an answer dressed as HTML stays data", async () => {
    const r = await fetch(`${base}/v1/sessions?limit=1`, {
      headers: { Authorization: "Bearer tt_reader", Cookie: "x=1" },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/octet-stream");
    expect(r.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(log.seen.at(-1)).toBe("GET /v1/sessions?limit=1 auth=Bearer tt_reader");
    expect((await fetch(`${base}/`)).headers.get("content-type")).toBe(
      "application/json; charset=utf-8",
    );
    // A list of types is not a type: the answer is passed on as bytes.
    expect((await fetch(`${base}/checkpoint`)).headers.get("content-type")).toBe(
      "application/octet-stream",
    );
  });

  it("passes nothing but reads of the read API", async () => {
    const before = log.seen.length;
    const post = await fetch(`${base}/v1/sessions`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    for (const path of ["/v1/keys", "/v1/erasures", "/metrics", "/v1/events"]) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
    expect(log.seen.length).toBe(before);
  });

  it("refuses a --log that is not an http(s) URL (exit 2)", async () => {
    for (const bad of [["--log", "file:///etc/passwd"], ["--log", "nope"], []]) {
      const p = run(["ui", ...bad, "--port", "0"]);
      expect(await p.exited, bad.join(" ")).toBe(2);
    }
  });
});
