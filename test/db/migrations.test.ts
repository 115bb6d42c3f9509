// The drizzle schemas and the committed migrations never drift: generating from each schema
// against a copy of its migrations folder finds nothing to add.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
mkdirSync(join(root, ".tmp"), { recursive: true });

for (const [name, schema, folder] of [
  ["log", "./src/db/schema.ts", "drizzle"],
  ["witness", "./src/witness/schema.ts", "drizzle/witness"],
]) {
  it(`drizzle-kit generate finds no ${name} schema change that lacks a migration`, {
    timeout: 60_000,
  }, () => {
    const out = join(mkdtempSync(join(root, ".tmp", "drizzle-check-")), "m");
    cpSync(join(root, folder!), out, { recursive: true });
    const before = readdirSync(out).sort();
    const log = execFileSync(
      process.execPath,
      [
        join(root, "node_modules/drizzle-kit/bin.cjs"),
        "generate",
        "--dialect",
        "postgresql",
        "--schema",
        schema!,
        "--out",
        relative(root, out),
      ],
      { cwd: root, encoding: "utf8" },
    );
    expect(log).toMatch(/No schema changes/);
    expect(readdirSync(out).sort()).toEqual(before);
  });
}
