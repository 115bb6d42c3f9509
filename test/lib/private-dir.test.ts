// makePrivateDir's warning says what was wrong: a data directory open to other users, or one
// whose only fault was a file marked executable (a database file left 0700 by an interrupted
// initdb is not "open to other users"); both are tightened to owner-only read/write.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makePrivateDir } from "../../src/lib/private-dir.ts";

const root = mkdtempSync(join(tmpdir(), "tt-private-dir-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function dirWith(name: string, mode: number): string {
  const dir = join(root, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, "f"), "x");
  chmodSync(join(dir, "f"), mode);
  return dir;
}

const tighten = (dir: string) => {
  const said: string[] = [];
  makePrivateDir(dir, {
    what: "data directory",
    flag: "--data",
    holds: "keys",
    say: (m) => said.push(m),
  });
  return said;
};

describe("makePrivateDir's warning", () => {
  it("names a file open to other users as such", () => {
    const dir = dirWith("open", 0o644);
    expect(tighten(dir)).toEqual([expect.stringMatching(/was open to other users .*f 0644→0600/)]);
    expect(statSync(join(dir, "f")).mode & 0o777).toBe(0o600);
  });

  it("names a file only marked executable as that, not as open to others", () => {
    const dir = dirWith("exec", 0o700);
    const said = tighten(dir);
    expect(said).toEqual([expect.stringMatching(/held files marked executable .*f 0700→0600/)]);
    expect(said[0]).not.toContain("open to other users");
    expect(statSync(join(dir, "f")).mode & 0o777).toBe(0o600);
  });

  it("says nothing of a directory already owner-only", () => {
    expect(tighten(dirWith("fine", 0o600))).toEqual([]);
  });
});
