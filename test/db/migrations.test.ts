// The drizzle schema and the committed migrations never drift: generating from the schema against
// a copy of drizzle/ finds nothing to add.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

it("drizzle-kit generate finds no schema change that lacks a migration", {
  timeout: 60_000,
}, () => {
  const out = join(mkdtempSync(join(tmpdir(), "tmuxtrail-drizzle-")), "drizzle");
  cpSync(join(root, "drizzle"), out, { recursive: true });
  const before = readdirSync(out).sort();
  const log = execFileSync(
    process.execPath,
    [
      join(root, "node_modules/drizzle-kit/bin.cjs"),
      "generate",
      "--dialect",
      "postgresql",
      "--schema",
      "./src/db/schema.ts",
      "--out",
      relative(root, out),
    ],
    { cwd: root, encoding: "utf8" },
  );
  expect(log).toMatch(/No schema changes/);
  expect(readdirSync(out).sort()).toEqual(before);
});
