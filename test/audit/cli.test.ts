// `tmuxtrail audit` as a real process: over a served log's tiles (--log), refused on a data
// directory that `serve` holds, and on the log's own storage once it stopped (exit 0, then exit 1
// naming a payload deleted behind the log's back).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/core/keys.ts";
import { openPglite } from "../../src/db/sql.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { run } from "../support/proc.ts";
import { postEvents, type Served, serve, tempDir } from "../support/serve.ts";
import { until } from "../support/wait.ts";
import { deletePayload } from "./helpers.ts";

let db: TestDb | undefined;
let s: Served;
let data: string;
let vkey: string;
const N = 600;

/** Runs audit on this test's database: its PostgreSQL schema, else the embedded data directory. */
async function tmuxtrail(args: string[]) {
  const env = db ? { TMUXTRAIL_DATABASE_SCHEMA: db.schema } : { DATABASE_URL: "" };
  const p = run(args, env);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
  data = tempDir();
  s = await serve({ data, schema: db?.schema });
  vkey = s.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
  for (let i = 0; i < N; i += 200) {
    // Pane %0 gets seq 0..399, pane %1 seq 0..199.
    const pane = i < 400 ? "%0" : "%1";
    const res = await postEvents(s.url, makeBatch(200, i < 400 ? i : i - 400, { pane }));
    expect(res.status).toBe(200);
  }
  await until(
    async () => Number((await (await fetch(`${s.url}/checkpoint`)).text()).split("\n")[1]) >= N,
    30_000,
    `a checkpoint covering the ${N} events`,
  );
}, 90_000);
afterAll(async () => {
  s.proc.child.kill("SIGTERM");
  await s.proc.exited;
  await db?.close();
});

describe("tmuxtrail audit", () => {
  it("--log: audits a served log over its tiles and says payloads were not checked", async () => {
    const tokenFile = join(tempDir(), "token");
    writeFileSync(tokenFile, `${ADMIN}\n`);
    const r = await tmuxtrail([
      "audit",
      "--log",
      s.url,
      "--token-file",
      tokenFile,
      "--log-key",
      vkey,
      "--json",
    ]);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out).toMatchObject({
      ok: true,
      size: N,
      leaves: N,
      streams: 2,
      payloads: null,
      findings: [],
    });
    // 0/0, 0/1 full, 0/2.p/88, 1/0.p/2.
    expect(out.tiles).toBe(4);
    const human = await tmuxtrail([
      "audit",
      "--log",
      s.url,
      "--token-file",
      tokenFile,
      "--log-key",
      vkey,
    ]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/payloads\s+not checked/);
  });

  it("--log without --log-key, or with a key that did not sign, is not trusted", async () => {
    const none = await tmuxtrail(["audit", "--log", s.url]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--log-key/);
    const other = generateKey("someone-else", new Uint8Array(32).fill(3)).verifierKey;
    const bad = await tmuxtrail(["audit", "--log", s.url, "--log-key", other]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(
      /FIRST FINDING: \[checkpoint\] the served checkpoint: the note does not verify/,
    );
  });

  it.skipIf(Boolean(process.env.DATABASE_URL))(
    "refuses the data directory `serve` holds, pointing to --log",
    async () => {
      const r = await tmuxtrail(["audit", "--data", data]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--log URL/);
    },
  );

  it("on the stopped log's storage: exit 0 trusting <data>/log.key, then exit 1 naming a deleted payload", async () => {
    s.proc.child.kill("SIGTERM");
    await s.proc.exited;
    const ok = await tmuxtrail(["audit", "--data", data]);
    expect(ok.code, ok.err + ok.out).toBe(0);
    expect(ok.out).toMatch(/OK, everything holds/);
    expect(ok.out).toMatch(/leaves\s+600 hashed/);
    expect(ok.err).toMatch(/trusting the key in .*log\.key/);
    if (db) await deletePayload(db.sql, 5);
    else {
      const { sql } = await openPglite(join(data, "db"));
      await deletePayload(sql, 5);
      await sql.close();
    }
    const bad = await tmuxtrail(["audit", "--data", data, "--log-key", vkey, "--json"]);
    expect(bad.code).toBe(1);
    const out = JSON.parse(bad.out);
    expect(out.ok).toBe(false);
    expect(out.findings[0]).toMatchObject({ kind: "payload", index: 5 });
  }, 60_000);
});
