// The small things a new user hits in the first hour (issue 17, item 14): a log that is down or
// answers 404 is one line, not the usage text; `tail | head` ends quietly; a stale bundle without
// tsx (a production install: `npm prune --omit=dev`) says what to do in one line, exit 2; serve's banner names the
// witnesses and the quorum.

import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { witnessBanner } from "../../src/cli/serve.ts";
import { generateKey } from "../../src/core/keys.ts";
import { runCli } from "../support/cli.ts";

const repo = resolve(import.meta.dirname, "../..");
const root = mkdtempSync(join(tmpdir(), "tt-first-hour-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the launcher beside a fake bundle; `withModules` links node_modules (tsx). */
function checkout(name: string, bundle: string, withModules: boolean): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "dist"));
  mkdirSync(join(dir, "src", "cli"), { recursive: true });
  copyFileSync(join(repo, "bin", "tmuxtrail.js"), join(dir, "bin", "tmuxtrail.js"));
  if (withModules) symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}\n');
  writeFileSync(join(dir, "dist", "tmuxtrail.mjs"), bundle);
  writeFileSync(join(dir, "src", "cli", "main.ts"), bundle);
  utimesSync(join(dir, "src", "cli", "main.ts"), 1_000_000, 1_000_000);
  utimesSync(join(dir, "dist", "tmuxtrail.mjs"), 2_000_000, 2_000_000);
  return dir;
}

describe("the first hour", () => {
  it("serve on a port already in use is one line and exit 2, not a stack trace, and ends", {
    timeout: 90_000,
  }, async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    try {
      const child = spawn(
        process.execPath,
        [
          join(repo, "bin", "tmuxtrail.js"),
          "serve",
          "--port",
          String(port),
          "--data",
          join(root, "busy"),
        ],
        {
          env: { ...process.env, DATABASE_URL: "", TMUXTRAIL_ADMIN_TOKEN: "" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let err = "";
      child.stderr.on("data", (d) => {
        err += d;
      });
      const code = await new Promise((r) => child.once("exit", r));
      expect(code).toBe(2);
      expect(err).toMatch(/cannot listen on 127\.0\.0\.1:\d+: the address is in use/);
      expect(err).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  });

  it("an unreachable log is one line and exit 2, without the usage text", async () => {
    const r = await runCli(["keys", "list", "--log", "http://127.0.0.1:9"]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).not.toContain("Usage:");
  });

  it("a reader that closes the pipe early (tail | head) ends the command without an EPIPE trace", async () => {
    const dir = checkout(
      "epipe",
      "export async function main() { for (let i = 0; i < 200000; i++) process.stdout.write('line ' + i + '\\n'); await new Promise((r) => setTimeout(r, 500)); return 0; }\n",
      false,
    );
    const child = spawn(process.execPath, [join(dir, "bin", "tmuxtrail.js")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise((r) => child.once("exit", r));
    expect(err).not.toContain("EPIPE");
    expect(code).toBe(0);
  });

  it("in a production install (no dev dependencies), an edited source is one line saying what to do, exit 2", () => {
    const dir = checkout("no-tsx", "export async function main() { return 0; }\n", false);
    utimesSync(join(dir, "src", "cli", "main.ts"), 3_000_000, 3_000_000);
    const r = spawnSync(process.execPath, [join(dir, "bin", "tmuxtrail.js"), "verify"], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: "" },
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("npm ci");
  });

  it("SIGTERM to npm start stops the log too: no serve left orphaned and listening", {
    timeout: 90_000,
  }, async () => {
    const npm = spawn("npm", ["start", "--", "--port", "0", "--data", join(root, "data")], {
      cwd: repo,
      env: { ...process.env, DATABASE_URL: "", TMUXTRAIL_ADMIN_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((r) => npm.once("exit", r));
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      npm.stdout.on("data", (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      exited.then(() => reject(new Error(`npm start ended: ${out}`)));
    });
    expect((await fetch(`${url}/checkpoint`)).status).toBe(200);
    npm.kill("SIGTERM");
    await exited;
    await new Promise((r) => setTimeout(r, 3000)); // an orphan would still answer after this
    await expect(fetch(`${url}/checkpoint`)).rejects.toThrow();
  });

  it("serve's banner lists the configured witnesses and the quorum", () => {
    const w1 = generateKey("w1.example/witness", new Uint8Array(32).fill(1));
    const w2 = generateKey("w2.example/witness", new Uint8Array(32).fill(2));
    const lines = witnessBanner(
      [
        `${w1.cosignatureVerifierKey}@http://w1.example:8081`,
        `${w2.cosignatureVerifierKey}@http://w2.example:8081`,
      ],
      2,
    ).join("\n");
    expect(lines).toContain("quorum 2 of 2");
    expect(lines).toContain("w1.example/witness at http://w1.example:8081");
    expect(lines).toContain("w2.example/witness at http://w2.example:8081");
    expect(witnessBanner([], 0).join("\n")).toContain("witnesses     none");
  });
});
