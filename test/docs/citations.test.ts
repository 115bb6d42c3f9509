// Every design citation in the code resolves: "docs/design.md §N" or "§N.M" names a section the
// document has, and nothing cites the shared contracts' own section numbers (not in this repository).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : /\.(ts|mjs)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );

it("every docs/design.md citation in src/ and test/ names one of its sections", () => {
  const design = readFileSync(join(root, "docs/design.md"), "utf8");
  const sections = new Set([...design.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\.? /gm)].map((m) => m[1]));
  const files = [...sources("src"), ...sources("test")];
  let cited = 0;
  for (const f of files) {
    const text = readFileSync(join(root, f), "utf8");
    expect(text, f).not.toMatch(/DESIGN (section|§)/);
    for (const m of text.matchAll(/docs\/design\.md §(\d+(?:\.\d+)?)/g)) {
      expect(sections.has(m[1]!), `${f} cites §${m[1]}`).toBe(true);
      cited++;
    }
  }
  expect(cited).toBeGreaterThan(20);
});
