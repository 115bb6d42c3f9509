import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSignerKey, parseVerifierKey, verifierKeyOf } from "../../src/core/keys.ts";
import { run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";

async function tmuxtrail(...args: string[]) {
  const p = run(args);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

describe("tmuxtrail CLI", () => {
  it("--help lists the commands that work, and exits 0", async () => {
    const r = await tmuxtrail("--help");
    expect(r.code).toBe(0);
    for (const c of ["serve", "keygen", "keys"]) expect(r.out).toMatch(new RegExp(`^  ${c} `, "m"));
  });

  it("an unknown command or flag is a usage error (exit 2)", async () => {
    expect((await tmuxtrail("frobnicate")).code).toBe(2);
    expect((await tmuxtrail("keygen", "x", "--bogus")).code).toBe(2);
    expect((await tmuxtrail("keygen", "x")).err).toMatch(/--out FILE is required/);
  });

  it("keygen writes the signer key with mode 600 and prints both verifier keys; it never overwrites unasked", async () => {
    const file = join(tempDir(), "log.key");
    const r = await tmuxtrail("keygen", "example.org/log", "--out", file, "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { vkey: string; cosigVkey: string };
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const signer = readFileSync(file, "utf8").trim();
    expect(parseSignerKey(signer).name).toBe("example.org/log");
    expect(verifierKeyOf(signer)).toBe(out.vkey);
    expect(parseVerifierKey(out.cosigVkey).alg).toBe(4);
    const again = await tmuxtrail("keygen", "example.org/log", "--out", file);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/exists/);
    expect(readFileSync(file, "utf8").trim()).toBe(signer);
  });
});
