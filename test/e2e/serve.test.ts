// The log over a real socket: keys managed with the CLI, a submit key bound to its host, proofs
// that verify, and a graceful SIGTERM that answers every accepted submission.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode } from "../../src/core/encoding.ts";
import { generateKey, parseVerifierKey } from "../../src/core/keys.ts";
import { verifyInclusion } from "../../src/core/proof-verify.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { run } from "../support/proc.ts";
import { getJson, postEvents, type Served, serve, tempDir } from "../support/serve.ts";

/** A database of its own on PostgreSQL; undefined on PGlite (the data directory holds it). */
const openTestDbOrNone = () =>
  process.env.DATABASE_URL ? openTestDb() : Promise.resolve(undefined);

let db: TestDb | undefined;
let s: Served;
let data: string;
beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
  data = tempDir();
  s = await serve({ data, schema: db?.schema });
}, 60_000);
afterAll(async () => {
  s.proc.child.kill("SIGTERM");
  await s.proc.exited;
  await db?.close();
});

async function cli(...args: string[]) {
  const p = run([...args, "--log", s.url], { TMUXTRAIL_ADMIN_TOKEN: ADMIN });
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

describe("serve over a real socket", () => {
  it("prints what a newcomer needs: origin, verifier key, admin token, curl lines", () => {
    const out = s.proc.stdout();
    expect(out).toMatch(/origin\s+\S+/);
    expect(out).toMatch(/verifier key\s+\S+\+[0-9a-f]{8}\+\S+/);
    expect(out).toMatch(/curl -s/);
  });

  it("keys create | list | revoke through the CLI; the new submit key works for its host only", async () => {
    const created = await cli(
      "keys",
      "create",
      "--name",
      "agent web-7",
      "--scope",
      "submit",
      "--host",
      "web-7",
      "--json",
    );
    expect(created.code, created.err).toBe(0);
    const key = JSON.parse(created.out) as { id: string; token: string };
    const post = (host: string) =>
      fetch(`${s.url}/v1/events`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key.token}` },
        body: JSON.stringify(makeBatch(1, 0, { host })),
      });
    expect((await post("web-7")).status).toBe(200);
    expect((await post("web-8")).status).toBe(403);
    const list = await cli("keys", "list", "--json");
    expect((JSON.parse(list.out) as { id: string }[]).some((k) => k.id === key.id)).toBe(true);
    expect((await cli("keys", "revoke", key.id)).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2100)); // other processes see revocations within the auth cache TTL
    expect((await post("web-7")).status).toBe(401);
    expect((await cli("keys", "revoke", "k_0000000000000000")).code).toBe(2);
  });

  it("an acknowledged event is provably in the signed checkpoint", async () => {
    const res = await fetch(`${s.url}/v1/events?wait=checkpoint`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(makeBatch(3, 0, { pane: "%e2e" })),
    });
    const [first] = (await res.json()) as { index: number; leafHash: string }[];
    const vkey = s.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
    const cp = openCheckpoint(await (await fetch(`${s.url}/checkpoint`)).text(), [
      parseVerifierKey(vkey),
    ]).checkpoint;
    const p = await getJson<{ proof: string[] }>(
      `${s.url}/v1/proof/inclusion?index=${first!.index}&size=${cp.size}`,
    );
    verifyInclusion(
      first!.index,
      cp.size,
      base64Decode(first!.leafHash),
      p.proof.map((h) => base64Decode(h)),
      cp.root,
    );
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM answers every accepted submission, signs a last checkpoint and exits 0", {
    timeout: 90_000,
  }, async () => {
    const gData = tempDir();
    // On PostgreSQL a second process of the same log (same schema, so the same key).
    const g = await serve({
      data: gData,
      schema: db?.schema,
      args: db ? ["--key", join(data, "log.key")] : [],
    });
    const sends = Array.from({ length: 20 }, (_, i) =>
      postEvents(g.url, makeBatch(50, 0, { pane: `%g${i}` })).catch(() => null),
    );
    // SIGTERM once the first answer is back, so the others are in flight (a fixed 30 ms delay
    // sometimes came before the server had accepted any request: nothing to check then).
    await Promise.race(sends);
    g.proc.child.kill("SIGTERM");
    const answers = await Promise.all(sends);
    expect(await g.proc.exited).toBe(0);
    expect(g.proc.stderr()).toMatch(/draining/);
    // Each request was either answered 200 or refused (503, or the connection closed before it
    // was accepted): nothing is left hanging.
    for (const r of answers) if (r) expect([200, 503]).toContain(r.status);
    const acked = (
      (await Promise.all(answers.filter((r) => r?.status === 200).map((r) => r!.json()))) as {
        index: number;
        leafHash: string;
      }[][]
    ).flat();
    expect(acked.length).toBeGreaterThan(0);
    // The checkpoint signed on the way out covers every acknowledged leaf.
    const reader = db ? s : await serve({ data: gData });
    try {
      const size = Number((await (await fetch(`${reader.url}/checkpoint`)).text()).split("\n")[1]);
      for (const a of acked) {
        expect(size).toBeGreaterThan(a.index);
        expect(
          (await getJson<{ leafHash: string }>(`${reader.url}/v1/entries/${a.index}`)).leafHash,
        ).toBe(a.leafHash);
      }
    } finally {
      if (reader !== s) {
        reader.proc.child.kill("SIGTERM");
        await reader.proc.exited;
      }
    }
  });
});

describe("the log's key", () => {
  it("serve refuses a database whose checkpoints another key signed, naming both ways out", {
    timeout: 60_000,
  }, async () => {
    const other = await openTestDbOrNone();
    const kData = tempDir();
    const first = await serve({ data: kData, schema: other?.schema });
    const origin = first.proc.stdout().match(/origin\s+(\S+)/)![1]!;
    first.proc.child.kill("SIGTERM");
    await first.proc.exited;
    // The same origin, another key: as if the key file were lost or swapped.
    const keyFile = join(tempDir(), "other.key");
    writeFileSync(keyFile, `${generateKey(origin, new Uint8Array(32).fill(3)).signerKey}\n`);
    const second = run(["serve", "--port", "0", "--data", kData, "--key", keyFile], {
      TMUXTRAIL_ADMIN_TOKEN: ADMIN,
      ...(other ? { TMUXTRAIL_DATABASE_SCHEMA: other.schema } : { DATABASE_URL: "" }),
    });
    expect(await second.exited).not.toBe(0);
    expect(second.stderr()).toMatch(
      /not signed by the configured key .*--key.*cannot be rotated in place/s,
    );
    await other?.close();
  });
});
