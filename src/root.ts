// The project's root directory, for the files read at run time (drizzle/ migrations, dist/ui).
// This file sits one level below the root, as do the built CLI's entry and chunks (dist/tmuxtrail.mjs
// and dist/tmuxtrail-*.mjs, scripts/build-cli.mjs), one of which inlines it: the same expression
// is right in all.

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
