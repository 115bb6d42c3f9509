// Every `witness --log` example in README.md and docs/operations.md has the flag's form,
// `<origin>=<vkey>[@<url>]`, with the placeholder key filled in by a real one (issue 17, item 4:
// the README's example, `--log 'origin+hash+key@url'`, was refused by the witness).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/core/keys.ts";
import { parseLogSpec } from "../../src/witness/witness.ts";

const docs = ["../../README.md", "../../docs/operations.md"].map((f) => ({
  file: f.slice(6),
  text: readFileSync(new URL(f, import.meta.url), "utf8"),
}));

describe("the docs' witness --log examples", () => {
  it("are <origin>=<vkey>[@<url>], and parse once their placeholder key is a real one", () => {
    let seen = 0;
    for (const { file, text } of docs) {
      const witnessBlocks = text.split("\n").filter((l) => /--log '[^']*'/.test(l));
      for (const line of witnessBlocks) {
        const spec = /--log '([^']*)'/.exec(line)![1]!;
        const m = /^([^=\s]+)=([^@\s]+)(@https?:\/\/\S+)?$/.exec(spec);
        expect(m, `${file}: --log '${spec}'`).not.toBeNull();
        const origin = m![1]!;
        const real = generateKey(origin, new Uint8Array(32).fill(3)).verifierKey;
        const parsed = parseLogSpec(`${origin}=${real}${m![3] ?? ""}`);
        expect(parsed.origin).toBe(origin);
        seen++;
      }
    }
    expect(seen).toBeGreaterThanOrEqual(2);
  });
});
