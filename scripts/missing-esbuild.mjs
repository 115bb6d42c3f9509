// What the build scripts do without esbuild, a development dependency: after
// `npm ci --omit=dev` (or `npm prune --omit=dev`) a build already in dist/ is kept, with one line
// saying so; with no build there, the install fails saying how to make one.

import { existsSync } from "node:fs";

/** True when `e` is "esbuild is not installed". */
export const esbuildMissing = (e) =>
  e?.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes("esbuild");

export function keepOrExplain(output, what) {
  if (existsSync(output)) {
    console.log(
      `tmuxtrail: esbuild is not installed (a production install): keeping ${what} in ${output}`,
    );
    return;
  }
  console.error(
    `tmuxtrail: cannot build ${what}: esbuild, a development dependency, is not installed. Install with \`npm ci\` (it builds dist/), then drop the development dependencies with \`npm prune --omit=dev\`.`,
  );
  process.exit(1);
}
