// The attacker configures what the log and its verifiers run with: a database tuned so that
// commits are not durable (the log would sign leaves a crash then loses), or a verifier handed a
// witness's cosignature key as the "log key" (a note only that witness cosigned would then pass as
// signed by the log). Both are refused by the code, not left to the operator's care.

import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLogServer } from "../../src/api/log-server.ts";
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from "../../src/core/checkpoint.ts";
import { cosign } from "../../src/core/cosignature.ts";
import { isTrailError } from "../../src/core/errors.ts";
import {
  generateKey,
  parseLogVerifierKey,
  parseSignerKey,
  parseVerifierKey,
} from "../../src/core/keys.ts";
import { BUNDLE_FORMAT } from "../../src/core/session-bundle.ts";
import { runCli } from "../support/cli.ts";
import { usingPostgres } from "../support/db.ts";
import { ADMIN, openTestLog } from "../support/log.ts";
import { makeLeaves, writeTree } from "../support/lying-proxy.ts";
import { tempDir } from "../support/serve.ts";
import { type StaticServer, staticServer } from "../support/static-server.ts";

describe.skipIf(!usingPostgres)("a database tuned to synchronous_commit = off", () => {
  it("every connection of the log still runs with synchronous_commit = on", {
    timeout: 60_000,
  }, async () => {
    const url = process.env.DATABASE_URL!;
    const name = `tt_sync_${randomBytes(4).toString("hex")}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE ROLE ${name} LOGIN`);
    await admin.unsafe(`CREATE DATABASE ${name} OWNER ${name}`);
    try {
      // Both defaults a server may carry, for the log's own database and role.
      await admin.unsafe(`ALTER DATABASE ${name} SET synchronous_commit = off`);
      await admin.unsafe(`ALTER ROLE ${name} SET synchronous_commit = off`);
      const dbUrl = new URL(url);
      dbUrl.username = name;
      dbUrl.password = "";
      dbUrl.pathname = `/${name}`;
      // The tuning is real: a plain connection there commits asynchronously.
      const plain = postgres(dbUrl.href, { max: 1, onnotice: () => {} });
      try {
        expect((await plain`SHOW synchronous_commit`)[0]!.synchronous_commit).toBe("off");
      } finally {
        await plain.end({ timeout: 5 });
      }
      const log = await startLogServer(
        {
          port: 0,
          host: "127.0.0.1",
          dataDir: tempDir("tt-sync-"),
          databaseUrl: dbUrl.href,
          adminToken: ADMIN,
          checkpointIntervalMs: 100,
          batchMax: 1000,
          batchLingerMs: 1,
          rateLimit: 0,
          poolSize: 4,
          witnesses: [],
          witnessQuorum: 0,
        },
        () => {},
      );
      try {
        // Every connection of the pool at once (each query holds its connection a moment), and
        // inside a transaction as the sequencer runs them.
        const held = await Promise.all(
          Array.from({ length: 4 }, () =>
            log.ctx.sql.query<{ s: string; pid: number }>(
              "SELECT current_setting('synchronous_commit') AS s, pg_backend_pid() AS pid, pg_sleep(0.3)::text",
            ),
          ),
        );
        expect(new Set(held.map((r) => r[0]!.pid)).size).toBe(4);
        expect(held.map((r) => r[0]!.s)).toEqual(["on", "on", "on", "on"]);
        const inTx = await log.ctx.sql.begin((tx) =>
          tx.query<{ synchronous_commit: string }>("SHOW synchronous_commit"),
        );
        expect(inTx[0]!.synchronous_commit).toBe("on");
      } finally {
        await log.close();
      }
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.unsafe(`DROP ROLE IF EXISTS ${name}`);
      await admin.end({ timeout: 5 });
    }
  });
});

describe("a witness's cosignature key given as the log key", () => {
  const ORIGIN = "example.test/cosigned-only";
  const logKey = generateKey(ORIGIN, new Uint8Array(32).fill(3));
  const witness = generateKey("witness.example", new Uint8Array(32).fill(4));
  let dir: string;
  let note: string;
  let bundleFile: string;
  let tokenFile: string;
  let served: StaticServer;

  beforeAll(async () => {
    // A real three-leaf tree, and a checkpoint for it that carries the witness's cosignature
    // and no signature by the log.
    dir = tempDir("tt-cosig-only-");
    const signed = writeTree(join(dir, "log"), makeLeaves(3), 3, logKey.signerKey, ORIGIN);
    const text = signed.slice(0, signed.indexOf("\n\n") + 1);
    note = `${text}\n${cosign(text, parseSignerKey(witness.signerKey), 1_764_000_000)}`;
    writeFileSync(join(dir, "log", "checkpoint"), note);
    served = await staticServer(join(dir, "log"));
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "unused");
    bundleFile = join(dir, "bundle.json");
    writeFileSync(
      bundleFile,
      JSON.stringify({
        format: BUNDLE_FORMAT,
        origin: ORIGIN,
        session: { id: "AAAAAAAAAAAAAAAAAAAAAA", host: "h", server: "s", session: "$1", user: "u" },
        keys: { log: witness.cosignatureVerifierKey, witnesses: [], quorum: 0 },
        checkpoint: note,
        events: [],
        erasures: [],
        casts: {},
        exported: "2026-11-24T19:00:00.000Z",
        pending: 0,
      }),
    );
  });
  afterAll(() => served?.close());

  it("the note is not signed by the log: its real key refuses it", async () => {
    const r = await runCli([
      "verify",
      "checkpoint",
      "--log",
      join(dir, "log"),
      "--log-key",
      logKey.verifierKey,
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not signed by the log key/);
  });

  it("opening the note with the cosignature key as the log's is refused, not passed as log-signed", () => {
    const k = parseVerifierKey(witness.cosignatureVerifierKey);
    let error: unknown;
    try {
      openCheckpoint(note, [k]);
    } catch (e) {
      error = e;
    }
    expect(isTrailError(error, "bad-key")).toBe(true);
    expect(() => parseLogVerifierKey(witness.cosignatureVerifierKey)).toThrow(
      /witness cosignature key \(algorithm 0x04\), not a log key/,
    );
    // The checkpoint itself is well formed: only the key is wrong.
    expect(parseCheckpoint(note.slice(0, note.indexOf("\n\n") + 1)).size).toBe(3);
    expect(formatCheckpoint(parseCheckpoint(note.slice(0, note.indexOf("\n\n") + 1)))).toBe(
      note.slice(0, note.indexOf("\n\n") + 1),
    );
  });

  const K = () => witness.cosignatureVerifierKey;
  const commands: [string, () => string[]][] = [
    ["verify", () => ["verify", "checkpoint", "--log", join(dir, "log"), "--log-key", K()]],
    [
      "monitor",
      () => ["monitor", "--log", join(dir, "log"), "--log-key", K(), "--state", join(dir, "state")],
    ],
    [
      "mirror",
      () => {
        mkdirSync(join(dir, "mirror"), { recursive: true });
        return [
          "mirror",
          "--log",
          join(dir, "log"),
          "--log-key",
          K(),
          "--out",
          join(dir, "mirror"),
        ];
      },
    ],
    ["tail", () => ["tail", "--log", served.url, "--token-file", tokenFile, "--log-key", K()]],
    ["audit", () => ["audit", "--log", served.url, "--log-key", K()]],
    ["verify-bundle", () => ["verify-bundle", bundleFile, "--log-key", K()]],
    ["replay", () => ["replay", bundleFile, "--log-key", K()]],
    ["verify-evidence", () => ["verify-evidence", bundleFile, "--log-key", K()]],
    ["agent", () => ["agent", "--log", served.url, "--token-file", tokenFile, "--log-key", K()]],
    [
      "witness --log",
      () => [
        "witness",
        "--data",
        join(dir, "witness"),
        "--key",
        join(dir, "witness.key"),
        "--log",
        `${ORIGIN}=${K()}`,
      ],
    ],
  ];
  for (const [name, args] of commands) {
    it(`${name} --log-key refuses a cosignature (0x04) key with exit 2`, async () => {
      const r = await runCli(args());
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.err).toMatch(/witness cosignature key \(algorithm 0x04\), not a log key/);
    });
  }
});

describe("an erasure reason is free text an auditor's terminal will print", () => {
  it("is refused (400) when it holds control or bidirectional characters, and nothing is erased", async () => {
    const log = await openTestLog();
    try {
      for (const reason of [
        "GDPR\u001b[2J\u001b]52;c;cm0gLXJmIH4=\u0007",
        "ok\u009b2J",
        "x\u202e",
      ]) {
        const res = await log.req("/v1/erasures", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ before: "2021-01-01", reason }),
        });
        expect(res.status, JSON.stringify(reason)).toBe(400);
        expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
          /printable/,
        );
      }
      const ok = await log.req("/v1/erasures", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ before: "2021-01-01", reason: "GDPR request #123 (é, 中文)" }),
      });
      expect(ok.status).toBe(200);
    } finally {
      await log.close();
    }
  });
});
