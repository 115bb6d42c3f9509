// The project's root directory, for the files read at run time (drizzle/ migrations, dist/ui).
// This file sits one level below the root, as does the built CLI bundle (dist/tmuxtrail.mjs,
// scripts/build-cli.mjs) that inlines it, so the same expression is right in both.

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
