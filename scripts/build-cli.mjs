// Builds the CLI (src/cli/main.ts and everything it imports from src/) into one ES module,
// dist/tmuxtrail.mjs, with esbuild; packages stay imports of node_modules. Run by `npm ci` (the
// `prepare` script). bin/tmuxtrail.js runs this bundle when it is newer than every file of src/,
// and the TypeScript sources through tsx otherwise, so an edit never runs stale code.
//
// Why: running through tsx's loader costs ~90 MB of resident memory in every process (the log
// server idled at 168 MB, 74 MB from the bundle), transpiling at each start, and tsx is a
// development dependency: a production install (`npm ci`, then `npm prune --omit=dev`) has only
// the bundle.
//
//   node scripts/build-cli.mjs

import { renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { esbuildMissing, keepOrExplain } from "./missing-esbuild.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_BUNDLE = join(root, "dist", "tmuxtrail.mjs");

export async function buildCli(outFile = CLI_BUNDLE) {
  const { build } = await import("esbuild");
  const tmp = `${outFile}.tmp-${process.pid}`;
  await build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    outfile: tmp,
    bundle: true,
    format: "esm",
    platform: "node",
    target: ["node20"],
    packages: "external",
    sourcemap: "linked",
    logLevel: "warning",
  });
  // The map is named after the bundle; rename both (the map first, so a bundle never lacks it).
  renameSync(`${tmp}.map`, `${outFile}.map`);
  renameSync(tmp, outFile);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildCli();
  } catch (e) {
    if (!esbuildMissing(e)) throw e;
    keepOrExplain(CLI_BUNDLE, "the CLI bundle");
  }
}
