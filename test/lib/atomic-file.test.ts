// writeFileAtomic: the new content whole, owner-only by default, no temporary file left behind,
// and a reader polling the file while it is rewritten never sees a part of it.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/lib/atomic-file.ts";
import { tempDir } from "../support/serve.ts";

describe("writeFileAtomic", () => {
  it("replaces a file whole, mode 600 unless told, leaving nothing else in the directory", () => {
    const dir = tempDir("tt-atomic-");
    const file = join(dir, "state");
    writeFileSync(file, "old");
    writeFileAtomic(file, "new content");
    expect(readFileSync(file, "utf8")).toBe("new content");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileAtomic(file, new Uint8Array([1, 2, 3]), { mode: 0o644 });
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(["state"]);
  });

  it("a failed write leaves the old file and no temporary file", () => {
    const dir = tempDir("tt-atomic-");
    expect(() => writeFileAtomic(join(dir, "missing", "x"), "a")).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a reader in another process never sees half a file", { timeout: 30_000 }, async () => {
    const dir = tempDir("tt-atomic-");
    const file = join(dir, "status.json");
    const big = (n: number) => JSON.stringify({ n, pad: "x".repeat(200_000) });
    writeFileAtomic(file, big(0));
    const reader = spawn(
      process.execPath,
      [
        "-e",
        `const fs=require("fs");let bad=0,n=0;const end=Date.now()+1500;while(Date.now()<end){try{JSON.parse(fs.readFileSync(${JSON.stringify(file)},"utf8"));n++}catch{bad++}}console.log(JSON.stringify({bad,n}))`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    reader.stdout.on("data", (d) => {
      out += d;
    });
    const done = new Promise((r) => reader.once("exit", r));
    let i = 0;
    while (reader.exitCode === null) {
      writeFileAtomic(file, big(++i), { durable: false });
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const { bad, n } = JSON.parse(out) as { bad: number; n: number };
    expect(n).toBeGreaterThan(0);
    expect(bad).toBe(0);
  });
});
