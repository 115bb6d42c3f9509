// The full C2SP tlog-witness add-checkpoint conversation, through the witness's HTTP app.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Encode, hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { rfc6962, sha256 } from "../../src/core/hash.ts";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../src/core/keys.ts";
import { signNote } from "../../src/core/note.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import { witnessApp } from "../../src/witness/app.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

const log = new MemoryLog("example.com/log");
const W = generateKey("witness.example/w1", new Uint8Array(32).fill(21));
const wKey = parseVerifierKey(W.cosignatureVerifierKey);
let db: TestDb;
let app: ReturnType<typeof witnessApp>;

beforeAll(async () => {
  db = await openTestDb(WITNESS_MIGRATIONS);
  app = witnessApp(witnessOf(db.sql, log, W), () => {});
});
afterAll(() => db.close());

const post = (body: string | Uint8Array) =>
  app.request("/add-checkpoint", { method: "POST", body: body as BodyInit });
const add = async (old: number, size: number, proof?: Uint8Array[], note?: string) =>
  post(
    formatAddCheckpoint({
      old,
      proof: proof ?? (old === 0 ? [] : await log.proof(old, size)),
      checkpoint: note ?? log.checkpoint(size),
    }),
  );

describe("POST /add-checkpoint", () => {
  it("malformed bodies and bodies over limits are 400", async () => {
    const note = log.checkpoint(5);
    for (const body of [
      "",
      `old 0\n${note}`, // no blank line
      `old 00\n\n${note}`,
      `old -1\n\n${note}`,
      `new 0\n\n${note}`,
      `old 0\nnot-base64\n\n${note}`,
      `old 0\n${`${base64Encode(rfc6962.emptyRoot())}\n`.repeat(64)}\n${note}`, // 64 proof lines
      `old 0\n\n${note.replace("\n\n", "\n")}`, // not a signed note
      `old 0\n\n${"x".repeat(17 * 1024)}`,
    ]) {
      expect((await post(body)).status, JSON.stringify(body.slice(0, 40))).toBe(400);
    }
    expect(
      (await post(new Uint8Array([0x6f, 0x6c, 0x64, 0x20, 0x30, 0xff, 0x0a, 0x0a]))).status,
    ).toBe(400);
  });

  it("an unknown origin is 404", async () => {
    const other = new MemoryLog("other.example/log", 12);
    expect(
      (await post(formatAddCheckpoint({ old: 0, proof: [], checkpoint: other.checkpoint(3) })))
        .status,
    ).toBe(404);
  });

  it("a checkpoint not signed by the log's key (or with a bad log signature) is 403", async () => {
    const impostor = new MemoryLog("example.com/log", 13);
    expect((await add(0, 5, [], impostor.checkpoint(5))).status).toBe(403);
    const note = log.checkpoint(5);
    const tampered = note.replace(
      / (\S)(\S+)\n$/,
      (_m, a: string, b: string) => ` ${a === "A" ? "B" : "A"}${b}\n`,
    );
    expect((await add(0, 5, [], tampered)).status).toBe(403);
  });

  it("old larger than the checkpoint size is 400", async () => {
    expect((await add(9, 5, [])).status).toBe(400);
  });

  it("the first checkpoint, with old 0, is cosigned with a timestamped cosignature/v1 that verifies", async () => {
    expect((await add(0, 5, [rfc6962.emptyRoot()])).status).toBe(422); // a proof with old 0
    const res = await add(0, 5);
    expect(res.status).toBe(200);
    const line = await res.text();
    expect(line).toMatch(/^— witness\.example\/w1 \S+\n$/);
    const o = openCheckpoint(
      log.checkpoint(5) + line,
      [parseVerifierKey(log.key.verifierKey)],
      [wKey],
      1,
    );
    expect(o.witnesses[0]!.time).toBe(1_800_000_000);
  });

  it("a stale old size is 409 with text/x.tlog.size and the size last cosigned", async () => {
    const res = await add(0, 7, []);
    expect(res.status).toBe(409);
    expect(res.headers.get("Content-Type")).toBe("text/x.tlog.size");
    expect(await res.text()).toBe("5\n");
  });

  it("a good consistency proof is cosigned; a bad one is 422 and changes nothing", async () => {
    const proof = await log.proof(5, 9);
    const bad = proof.map((h, i) => (i === 0 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h));
    expect((await add(5, 9, bad)).status).toBe(422);
    expect((await add(5, 9, proof.slice(1))).status).toBe(422);
    expect((await add(5, 9)).status).toBe(200);
    const res = await app.request(`/${hexEncode(sha256(utf8Encode(log.origin)))}/checkpoint`);
    expect(res.status).toBe(200);
    const o = openCheckpoint(await res.text(), [parseVerifierKey(log.key.verifierKey)], [wKey], 1);
    expect(o.checkpoint.size).toBe(9);
  });

  it("concurrent requests racing from one old size: exactly one advances, the others get 409", async () => {
    const results = await Promise.all([12, 13, 14, 15].map(async (n) => (await add(9, n)).status));
    expect(results.filter((s) => s === 200).length).toBe(1);
    expect(results.filter((s) => s === 409).length).toBe(3);
  });

  it("the same size with a different root is 422, kept as fork evidence, and nothing is cosigned after", async () => {
    const state = await app.request(`/${hexEncode(sha256(utf8Encode(log.origin)))}/checkpoint`);
    const size = openCheckpoint(await state.text(), [parseVerifierKey(log.key.verifierKey)])
      .checkpoint.size;
    const fork = new MemoryLog("example.com/log", 11, "fork");
    const res = await add(size, size, [], fork.checkpoint(size));
    expect(res.status).toBe(422);
    const evidence = (await (await app.request("/v1/evidence")).json()) as {
      kind: string;
      notes: string[];
    }[];
    expect(evidence).toHaveLength(1);
    expect(evidence[0]!.kind).toBe("same-size-different-root");
    expect((await add(size, size + 3)).status).toBe(422);
  });
});

describe("a new log's empty tree", () => {
  it("size 0 must carry the empty root", async () => {
    const db2 = await openTestDb(WITNESS_MIGRATIONS);
    try {
      const a = witnessApp(witnessOf(db2.sql, log, W), () => {});
      const p = (note: string) =>
        a.request("/add-checkpoint", {
          method: "POST",
          body: formatAddCheckpoint({ old: 0, proof: [], checkpoint: note }),
        });
      const wrongRoot = signNote(
        formatCheckpoint({ origin: log.origin, size: 0, root: log.root(3) }),
        [parseSignerKey(log.key.signerKey)],
      );
      expect((await p(wrongRoot)).status).toBe(422);
      expect((await p(log.checkpoint(0))).status).toBe(200);
    } finally {
      await db2.close();
    }
  });
});
