// bin/tmuxtrail.js runs the built bundle (dist/tmuxtrail.mjs) only while it is newer than every
// source file, else the sources through tsx: an edited source never runs stale. Checked on a copy
// of the launcher beside a fake bundle and fake sources that say which one ran.

import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "tt-launcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

mkdirSync(join(dir, "bin"));
mkdirSync(join(dir, "dist"));
mkdirSync(join(dir, "src", "cli"), { recursive: true });
copyFileSync(join(repo, "bin", "tmuxtrail.js"), join(dir, "bin", "tmuxtrail.js"));
symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
writeFileSync(join(dir, "package.json"), '{"type":"module"}\n');
const said = (who: string) =>
  `export async function main(args) { console.log("${who}", args.join(" ")); return 0; }\n`;
writeFileSync(join(dir, "dist", "tmuxtrail.mjs"), said("bundle"));
writeFileSync(join(dir, "src", "cli", "main.ts"), said("source"));

const run = (env: Record<string, string> = {}) =>
  execFileSync(process.execPath, [join(dir, "bin", "tmuxtrail.js"), "x", "y"], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  }).trim();
const touch = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

describe("bin/tmuxtrail.js", () => {
  it("runs the bundle when it is newer than every source, the sources otherwise", () => {
    touch(join(dir, "src", "cli", "main.ts"), 1_000_000);
    touch(join(dir, "dist", "tmuxtrail.mjs"), 2_000_000);
    expect(run()).toBe("bundle x y");
    expect(run({ TMUXTRAIL_FROM_SOURCE: "1" })).toBe("source x y");
    touch(join(dir, "src", "cli", "main.ts"), 3_000_000);
    expect(run()).toBe("source x y");
    rmSync(join(dir, "dist", "tmuxtrail.mjs"));
    expect(run()).toBe("source x y");
  });
});
