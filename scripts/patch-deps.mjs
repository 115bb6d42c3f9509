// Patches a dependency bug at install time (run by `npm ci` through the `prepare` script), the way
// patch-package does, without a dependency: each patch names the package version it was written
// for, replaces one exact piece of text, and is idempotent. A patch whose text is not found (a new
// version) is reported loudly and skipped, never applied blindly.
//
// postgres 3.4.x (porsager/postgres#1154, #1208; fix proposed in PR #1209, not released): when a
// connection closes (e.g. pg_terminate_backend, a database restart) while a write is scheduled,
// `nextWrite` runs with `socket === null` and throws a TypeError outside any promise, which kills
// the whole process. The patch settles the connection's queries as CONNECTION_CLOSED instead, so
// the log answers 503 and its pool reconnects. Found by test/faults/pg-terminate.test.ts.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MARK = "/* tmuxtrail patch: closed socket */";

const patches = [
  {
    pkg: "postgres",
    versions: /^3\.4\./,
    files: ["src/connection.js", "cjs/src/connection.js", "cf/src/connection.js"],
    find: "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)",
    replace: `  function nextWrite(fn) {\n    if (!socket) { ${MARK}\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options, socket))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  },
];

for (const p of patches) {
  const dir = join(root, "node_modules", p.pkg);
  if (!existsSync(join(dir, "package.json"))) continue;
  const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (!p.versions.test(version)) {
    console.warn(
      `patch-deps: WARNING: ${p.pkg}@${version} is not the version patched (${p.versions}); check whether it still needs the patch`,
    );
    continue;
  }
  for (const f of p.files) {
    const file = join(dir, f);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    if (text.includes(MARK)) continue;
    if (!text.includes(p.find)) {
      console.warn(
        `patch-deps: WARNING: ${p.pkg}@${version} ${f}: the text to patch was not found; not patched`,
      );
      continue;
    }
    writeFileSync(file, text.replace(p.find, p.replace));
    console.log(`patch-deps: patched ${p.pkg}@${version} ${f}`);
  }
}
