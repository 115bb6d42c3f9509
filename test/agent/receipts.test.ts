// Proving the agent's receipts (src/agent/receipts.ts) against logs written by hand into a
// directory: an honest one that grows, one that forks, rolls back or loses tiles, and witnesses.
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ReceiptProver } from "../../src/agent/receipts.ts";
import { readWitnesses } from "../../src/cli/agent.ts";
import { UsageError } from "../../src/cli/command.ts";
import { formatCheckpoint, parseCheckpoint } from "../../src/core/checkpoint.ts";
import { cosign } from "../../src/core/cosignature.ts";
import { base64Encode } from "../../src/core/encoding.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote, splitNote } from "../../src/core/note.ts";
import { flipByte, makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { run } from "../support/proc.ts";
import { tempDir } from "../support/serve.ts";

const ORIGIN = "receipts.test/core";
const KEY = generateKey(ORIGIN, new Uint8Array(32).fill(5));
const W1 = generateKey("w1.example", new Uint8Array(32).fill(6));
const W2 = generateKey("w2.example", new Uint8Array(32).fill(8));
const W3 = generateKey("w3.example", new Uint8Array(32).fill(9));

function bed(opts: { witnesses?: string[]; quorum?: number } = {}) {
  const logDir = tempDir("tt-rlog-");
  const spool = tempDir("tt-rspool-");
  const alarms: string[] = [];
  const leaves = makeLeaves(600);
  const receipts = (indexes: number[], from = leaves) =>
    writeFileSync(
      join(spool, "receipts.jsonl"),
      indexes
        .map(
          (i) =>
            `${JSON.stringify({ index: i, leafHash: base64Encode(rfc6962.leaf(from[i]!)) })}\n`,
        )
        .join(""),
      { flag: "a" },
    );
  const prover = () =>
    new ReceiptProver(
      {
        spoolDir: spool,
        logUrl: logDir,
        logKey: parseVerifierKey(KEY.verifierKey),
        witnesses: (opts.witnesses ?? []).map(parseVerifierKey),
        quorum: opts.quorum,
        idleCheckMs: 0,
      },
      (m) => alarms.push(m),
    );
  const tree = (size: number, l = leaves) => writeTree(logDir, l, size, KEY.signerKey, ORIGIN);
  return { logDir, spool, alarms, leaves, receipts, prover, tree };
}

/** A checkpoint note for `size` with another root, signed by the log key. */
function forged(size: number): string {
  return signNote(formatCheckpoint({ origin: ORIGIN, size, root: new Uint8Array(32).fill(1) }), [
    parseSignerKey(KEY.signerKey),
  ]);
}

describe("receipts are proven from the tiles against a checkpoint that extends the one kept", () => {
  it("proves receipts in the tree, keeps the checkpoint (0600), then follows an honest log's growth", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([3, 200, 299, 450]);
    const p = b.prover();
    let s = await p.round();
    expect(s).toMatchObject({ total: 4, proven: 3, failed: 0, alarm: null, waiting: null });
    expect(s.checkpoint?.size).toBe(300);
    const cpFile = join(b.spool, "checkpoint");
    expect(statSync(cpFile).mode & 0o777).toBe(0o600);
    b.tree(520);
    s = await p.round();
    expect(s).toMatchObject({ total: 4, proven: 4, failed: 0, alarm: null });
    expect(parseCheckpoint(splitNote(readFileSync(cpFile, "utf8")).text).size).toBe(520);
    // A new prover (an agent restart) resumes from the state and the kept checkpoint.
    b.receipts([510]);
    expect(await b.prover().round()).toMatchObject({ total: 5, proven: 5, failed: 0 });
    expect(b.alarms).toEqual([]);
  });

  it("a fork at a larger size: FAILED, an alarm, and the kept checkpoint stays", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([10]);
    const p = b.prover();
    await p.round();
    b.tree(400, makeLeaves(400, 100)); // a tree whose leaves from 100 on differ
    b.receipts([350]);
    const s = await p.round();
    expect(s.proven).toBe(1);
    expect(s.checkpoint?.size).toBe(300);
    expect(s.alarm).toMatch(/size 400 .*not consistent with the checkpoint of size 300/);
    expect(b.alarms.join("\n")).toMatch(/^ALARM: .*does not extend it/m);
  });

  it("the same size with another root (a split view), and a smaller size (a rollback): FAILED", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([10]);
    const p = b.prover();
    await p.round();
    b.receipts([299]);
    writeFileSync(join(b.logDir, "checkpoint"), forged(300));
    expect((await p.round()).alarm).toMatch(/two different roots for the same size/);
    b.tree(200);
    const s = await p.round();
    expect(s.alarm).toMatch(/rollback/);
    expect(s).toMatchObject({ proven: 1, failed: 0 });
    expect(s.checkpoint?.size).toBe(300);
  });

  it("a tile that cannot be fetched leaves receipts not yet proven, never FAILED; then they are proven", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([5]);
    const tile = join(b.logDir, "tile", "0", "000");
    renameSync(tile, `${tile}.away`);
    const p = b.prover();
    let s = await p.round();
    expect(s).toMatchObject({ proven: 0, failed: 0, alarm: null });
    expect(s.waiting).toMatch(/^not yet proven: .*tile\/0\/000/);
    renameSync(`${tile}.away`, tile);
    s = await p.round();
    expect(s).toMatchObject({ proven: 1, failed: 0, alarm: null, waiting: null });
    expect(b.alarms).toEqual([]);
  });

  it("an unreachable log leaves receipts not yet proven", async () => {
    const b = bed();
    b.receipts([5]);
    const p = new ReceiptProver(
      {
        spoolDir: b.spool,
        logUrl: "http://127.0.0.1:9",
        logKey: parseVerifierKey(KEY.verifierKey),
        timeoutMs: 2000,
      },
      (m) => b.alarms.push(m),
    );
    const s = await p.round();
    expect(s).toMatchObject({ total: 1, proven: 0, failed: 0, alarm: null });
    expect(s.waiting).toMatch(/not yet proven: .*cannot reach/);
  });

  it("a tile that does not hash to the signed root fails the receipt whose proof reads it, once", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([5, 6]);
    const tile = join(b.logDir, "tile", "0", "000");
    writeFileSync(tile, flipByte(readFileSync(tile), 6 * 32));
    const p = b.prover();
    // Leaf 5's proof reads entry 6 inside its sibling MTH(D[6:8]); leaf 6's proof starts from
    // the leaf hash the agent computed and never reads entry 6: it still verifies.
    let s = await p.round();
    expect(s).toMatchObject({ total: 2, proven: 1, failed: 1 });
    expect(s.alarm).toMatch(/index 5 .*not proven included in the log's tree of size 300/);
    expect(b.alarms).toHaveLength(1);
    s = await p.round();
    expect(s).toMatchObject({ total: 2, proven: 1, failed: 1 });
    expect(b.alarms).toHaveLength(1);
  });

  it("reads a state file written before byte offsets were kept", async () => {
    const b = bed();
    b.tree(300);
    b.receipts([1, 2, 3]);
    writeFileSync(join(b.spool, "receipts.state.json"), JSON.stringify({ proven: 2, failed: 0 }));
    expect(await b.prover().round()).toMatchObject({ total: 3, proven: 3, failed: 0 });
  });
});

describe("with witnesses, receipts are proven only against a checkpoint with the quorum of cosignatures", () => {
  const cosigned = (logDir: string, ...keys: { signerKey: string }[]) => {
    const note = readFileSync(join(logDir, "checkpoint"), "utf8");
    const { text } = splitNote(note);
    writeFileSync(
      join(logDir, "checkpoint"),
      note + keys.map((k) => cosign(text, parseSignerKey(k.signerKey), 1_800_000_000)).join(""),
    );
  };

  it("waits without the quorum (an unknown witness does not count), proves with it", async () => {
    const b = bed({ witnesses: [W1.cosignatureVerifierKey, W2.cosignatureVerifierKey], quorum: 2 });
    b.tree(300);
    b.receipts([7]);
    const p = b.prover();
    let s = await p.round();
    expect(s).toMatchObject({ proven: 0, failed: 0, alarm: null, checkpoint: null });
    expect(s.waiting).toMatch(/0 valid witness cosignature\(s\), the quorum is 2/);
    cosigned(b.logDir, W1, W3);
    s = await p.round();
    expect(s.waiting).toMatch(/1 valid witness cosignature\(s\), the quorum is 2/);
    expect(existsSync(join(b.spool, "checkpoint"))).toBe(false);
    b.tree(300);
    cosigned(b.logDir, W1, W2);
    s = await p.round();
    expect(s).toMatchObject({ proven: 1, failed: 0, alarm: null, waiting: null });
    expect(s.checkpoint).toMatchObject({ size: 300, cosignatures: 2 });
    expect(b.alarms).toEqual([]);
  });
});

describe("agent --witness VKEY --witness-quorum K", () => {
  const logKey = KEY.verifierKey;
  const w = [W1.cosignatureVerifierKey, W2.verifierKey];

  it("K defaults to every witness given; a witness's 0x01 key is read as its cosignature key", () => {
    const r = readWitnesses({ witness: w, "log-key": logKey });
    expect(r?.quorum).toBe(2);
    expect(r?.witnesses.map((v) => v.key)).toEqual([
      W1.cosignatureVerifierKey,
      W2.cosignatureVerifierKey,
    ]);
    expect(readWitnesses({ witness: w, "witness-quorum": "1", "log-key": logKey })?.quorum).toBe(1);
    expect(readWitnesses({ "log-key": logKey })).toBeUndefined();
  });

  it("refuses K below 1 or above the witnesses given, a quorum without witnesses, witnesses without --log-key, a witness twice", () => {
    for (const k of ["0", "3", "-1", "1.5", "two"])
      expect(() => readWitnesses({ witness: w, "witness-quorum": k, "log-key": logKey })).toThrow(
        UsageError,
      );
    expect(() => readWitnesses({ "witness-quorum": "1", "log-key": logKey })).toThrow(
      /needs at least K --witness/,
    );
    expect(() => readWitnesses({ witness: w })).toThrow(/--witness needs --log-key/);
    expect(() =>
      readWitnesses({ witness: [W1.verifierKey, W1.cosignatureVerifierKey], "log-key": logKey }),
    ).toThrow(/the same witness is given twice/);
    expect(() => readWitnesses({ witness: ["junk"], "log-key": logKey })).toThrow(/--witness junk/);
  });

  it("the agent exits 2 with the reason", { timeout: 30_000 }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "token"), "tt_x");
    const p = run([
      "agent",
      "--log",
      "http://127.0.0.1:9",
      "--token-file",
      join(dir, "token"),
      "--log-key",
      logKey,
      ...["--witness", w[0]!, "--witness-quorum", "3"],
    ]);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/--witness-quorum 3: give a number from 1 to 1/);
  });
});
