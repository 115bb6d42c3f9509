#!/usr/bin/env node
// Entry point. Runs the built CLI (dist/tmuxtrail.mjs, made by `npm ci`, scripts/build-cli.mjs)
// when it is newer than every source file, else the TypeScript sources through tsx's loader, so an
// edited source never runs stale. TMUXTRAIL_FROM_SOURCE=1 always runs the sources.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bundle = join(root, "dist", "tmuxtrail.mjs");

/** The newest modification time of a .ts file under dir. */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  if (process.env.TMUXTRAIL_FROM_SOURCE === "1" || !existsSync(bundle)) return false;
  const src = join(root, "src");
  return !existsSync(src) || statSync(bundle).mtimeMs >= newestSource(src);
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import("../dist/tmuxtrail.mjs"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
