#!/usr/bin/env node
// Entry point. Runs the built CLI (dist/tmuxtrail.mjs, made by `npm ci`, scripts/build-cli.mjs)
// when it is newer than every source file, else the TypeScript sources through tsx's loader, so an
// edited source never runs stale. TMUXTRAIL_FROM_SOURCE=1 always runs the sources. Without tsx
// (a production install) a stale bundle is one line and exit 2: rebuild it with `npm ci`.
// A reader that closes the pipe (`tail | head`) ends the command quietly, not with an EPIPE trace.
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

for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import("../dist/tmuxtrail.mjs"));
} else {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch (e) {
    if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
    console.error(
      "tmuxtrail: a source file is newer than dist/tmuxtrail.mjs and the development dependencies are not installed (a production install): run `npm ci` where tmuxtrail is installed (it rebuilds dist/), then `npm prune --omit=dev`",
    );
    process.exit(2);
  }
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
