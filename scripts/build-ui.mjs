// Builds the web UI (src/ui) into dist/ui with esbuild: one ES module bundle (the UI plus the
// project's own src/core verification code and @noble, no CDN), the verify worker (src/ui/
// verify-worker.ts: the same src/core verification, run off the page's thread), one stylesheet (ours plus
// xterm.js's), and index.html. Run by `npm ci` (the `prepare` script); nothing at run time
// builds it. The output is never committed.
//
//   node scripts/build-ui.mjs [OUTDIR]

import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { esbuildMissing, keepOrExplain } from "./missing-esbuild.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_UI_DIR = join(root, "dist", "ui");

export async function buildUi(outDir = DEFAULT_UI_DIR) {
  const { build } = await import("esbuild");
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const common = {
    bundle: true,
    platform: "browser",
    target: ["es2022"],
    minify: true,
    sourcemap: true,
    legalComments: "linked",
    logLevel: "warning",
  };
  await build({
    ...common,
    entryPoints: [join(root, "src", "ui", "main.ts")],
    outfile: join(tmp, "app.js"),
    format: "esm",
  });
  // A classic worker script (an IIFE): started by the page with new Worker(url).
  await build({
    ...common,
    entryPoints: [join(root, "src", "ui", "verify-worker.ts")],
    outfile: join(tmp, "verify-worker.js"),
    format: "iife",
  });
  const require = createRequire(import.meta.url);
  const xtermCss = readFileSync(require.resolve("@xterm/xterm/css/xterm.css"), "utf8");
  const ours = readFileSync(join(root, "src", "ui", "app.css"), "utf8");
  writeFileSync(join(tmp, "app.css"), `${xtermCss}\n${ours}`);
  for (const f of ["index.html", "icon.svg"])
    copyFileSync(join(root, "src", "ui", f), join(tmp, f));
  // Swap in whole, so a server never serves half a build.
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(dirname(outDir), { recursive: true });
  renameSync(tmp, outDir);
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_UI_DIR;
  try {
    console.log(`tmuxtrail: web UI built into ${await buildUi(outDir)}`);
  } catch (e) {
    if (!esbuildMissing(e)) throw e;
    keepOrExplain(join(outDir, "index.html"), "the web UI");
  }
}
