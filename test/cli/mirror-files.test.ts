// The mirror directory's file layer: the lock that keeps two mirrors from writing one directory,
// whole-file replacement, and the checkpoint it holds.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  exists,
  lockMirror,
  readLocal,
  readMirrorCheckpoint,
  writeAtomic,
} from "../../src/client/mirror-files.ts";
import { formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { ORIGIN, TEST_KEY } from "../support/log.ts";

const dir = () => mkdtempSync(join(tmpdir(), "tt-mirror-files-"));

describe("lockMirror", () => {
  it("refuses a directory a live process holds, and frees it on release", () => {
    const d = dir();
    const release = lockMirror(d);
    expect(readFileSync(join(d, ".mirror.lock"), "utf8").split("\n")[0]).toBe(`${process.pid}`);
    expect(() => lockMirror(d)).toThrow(`is being mirrored by process ${process.pid}`);
    release();
    expect(readdirSync(d)).toEqual([]);
    lockMirror(d)();
  });

  it("takes over a lock whose process is gone", () => {
    const d = dir();
    const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
    writeFileSync(join(d, ".mirror.lock"), `${gone}\n`);
    const release = lockMirror(d);
    expect(readFileSync(join(d, ".mirror.lock"), "utf8").split("\n")[0]).toBe(`${process.pid}`);
    release();
  });
});

describe("writeAtomic", () => {
  it("creates the directories, replaces the whole file and leaves no temporary file", async () => {
    const d = dir();
    expect(await exists(d, "tile/0/x001/002")).toBe(false);
    expect(await readLocal(d, "tile/0/x001/002")).toBeUndefined();
    const parent = await writeAtomic(d, "tile/0/x001/002", new Uint8Array([1, 2, 3]));
    expect(parent).toBe(join(d, "tile", "0", "x001"));
    await writeAtomic(d, "tile/0/x001/002", new Uint8Array([4, 5]));
    expect(await readLocal(d, "tile/0/x001/002")).toEqual(new Uint8Array([4, 5]));
    expect(await exists(d, "tile/0/x001/002")).toBe(true);
    expect(readdirSync(parent)).toEqual(["002"]);
  });
});

describe("readMirrorCheckpoint", () => {
  const open = (note: string, quorum?: number) =>
    openCheckpoint(note, [parseVerifierKey(TEST_KEY.verifierKey)], [], quorum ?? 0);
  const signed = signNote(
    formatCheckpoint({ origin: ORIGIN, size: 0, root: rfc6962.emptyRoot() }),
    [parseSignerKey(TEST_KEY.signerKey)],
  );

  it("opens the checkpoint the directory holds with the log key", () => {
    const d = dir();
    writeFileSync(join(d, "checkpoint"), signed);
    const held = readMirrorCheckpoint(d, open);
    expect(held?.note).toBe(signed);
    expect(held?.cp.checkpoint.size).toBe(0);
  });

  it("is undefined in a directory that holds none", () => {
    expect(readMirrorCheckpoint(dir(), open)).toBeUndefined();
  });

  it("names the file when what it holds is not signed by the log", () => {
    const d = dir();
    writeFileSync(join(d, "checkpoint"), signed.replace("\n0\n", "\n1\n"));
    expect(() => readMirrorCheckpoint(d, open)).toThrow(
      `${join(d, "checkpoint")} is not a checkpoint signed by this log's key`,
    );
  });
});
