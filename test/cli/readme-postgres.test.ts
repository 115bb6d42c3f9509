// README's "Use PostgreSQL" section works as written (issue 17, item 6): its signer key is made by
// a `keygen` step before `serve --key` names it, and `serve` is given its own --data, so the admin
// token is not generated into the ./data of an embedded log tried out in the same directory.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The section's shell block, continuation lines joined, comments dropped, `tmuxtrail` gone. */
function commands(): string[][] {
  const section = readme.split(/^### Use PostgreSQL$/m)[1]?.split(/^##/m)[0] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => /(^|\s)tmuxtrail /.test(l))
    .map((l) => l.split(/(?:^|\s)tmuxtrail /)[1]!.split(/\s+/));
}

const flag = (args: string[], name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

describe("README: Use PostgreSQL", () => {
  it("creates the signer key with keygen before serve --key names it, and gives serve its own --data", () => {
    const cmds = commands();
    const keygen = cmds.findIndex((c) => c[0] === "keygen");
    const serve = cmds.findIndex((c) => c[0] === "serve");
    expect(keygen, "a keygen step").toBeGreaterThanOrEqual(0);
    expect(serve).toBeGreaterThan(keygen);
    expect(flag(cmds[serve]!, "--key")).toBe(flag(cmds[keygen]!, "--out"));
    const data = flag(cmds[serve]!, "--data");
    expect(data, "serve --data").toBeDefined();
    expect(data).not.toMatch(/^(\.\/)?data\/?$/);
  });

  it("its keygen line runs as written (its --out moved into a temporary directory)", async () => {
    const cmds = commands();
    const args = cmds.find((c) => c[0] === "keygen")!;
    const dir = mkdtempSync(join(tmpdir(), "tmuxtrail-readme-"));
    try {
      const out = join(dir, "log.key");
      const r = await runCli(args.map((a, i) => (args[i - 1] === "--out" ? out : a)));
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(out, "utf8")).toMatch(/^PRIVATE\+KEY\+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
