// Builds the CLI (src/cli/main.ts and everything it imports from src/) with esbuild into
// dist/tmuxtrail.mjs and its chunks beside it, dist/tmuxtrail-*.mjs (one or more per command,
// loaded when the command runs); packages stay imports of node_modules. Run by `npm ci` (the
// `prepare` script). bin/tmuxtrail.js runs this bundle when it is newer than every file of src/,
// and the TypeScript sources through tsx otherwise, so an edit never runs stale code.
//
// Why: running through tsx's loader costs ~90 MB of resident memory in every process (the log
// server idled at 168 MB, 74 MB from the bundle), transpiling at each start, and tsx is a
// development dependency: a production install (`npm ci`, then `npm prune --omit=dev`) has only
// the bundle.
//
//   node scripts/build-cli.mjs

import { readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { esbuildMissing, keepOrExplain } from "./missing-esbuild.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_BUNDLE = join(root, "dist", "tmuxtrail.mjs");
/**
 * The chunks the entry imports, beside it in dist/ (each command's code, and what commands share):
 * src/root.ts finds the project one level above its module, chunk or entry alike.
 */
const CHUNK = "tmuxtrail-";

export async function buildCli(outFile = CLI_BUNDLE) {
  const { build } = await import("esbuild");
  const dir = dirname(outFile);
  const tmp = join(dir, `.cli-build-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await build({
      entryPoints: { tmuxtrail: join(root, "src", "cli", "main.ts") },
      outdir: tmp,
      outExtension: { ".js": ".mjs" },
      chunkNames: `${CHUNK}[name]-[hash]`,
      // Each command is imported when it runs (src/cli/main.ts): split, a command loads only its
      // own chunks and their packages (verify-bundle loads no database driver nor HTTP server).
      splitting: true,
      bundle: true,
      format: "esm",
      platform: "node",
      target: ["node20"],
      packages: "external",
      sourcemap: "linked",
      logLevel: "warning",
    });
    // The chunks first (their names hold their hashes: new ones go beside the old), then the
    // entry that imports them, its map before it (so an entry never lacks its map); then the
    // chunks no longer imported.
    const fresh = new Set(readdirSync(tmp).filter((f) => f.startsWith(CHUNK)));
    for (const f of fresh) renameSync(join(tmp, f), join(dir, f));
    renameSync(join(tmp, "tmuxtrail.mjs.map"), `${outFile}.map`);
    renameSync(join(tmp, "tmuxtrail.mjs"), outFile);
    for (const f of readdirSync(dir)) {
      if (f.startsWith(CHUNK) && !fresh.has(f)) rmSync(join(dir, f), { force: true });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildCli();
  } catch (e) {
    if (!esbuildMissing(e)) throw e;
    keepOrExplain(CLI_BUNDLE, "the CLI bundle");
  }
}
