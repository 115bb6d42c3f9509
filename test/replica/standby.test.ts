// `serve --read-database-url` on a real PostgreSQL hot standby (streaming replication from the
// DATABASE_URL server, made and removed by the test). While submitters append continuously through
// the server (writes go to the primary), readers check that everything served from the standby
// verifies: every checkpoint is signed by the log and its root is recomputed from the hash tiles
// fetched right after (so the server never serves a checkpoint whose tiles it cannot serve),
// checkpoint sizes never go backwards, consistency proofs link the checkpoints, inclusion proofs
// (by index and by hash) and /v1/entries/:i proofs verify. Then it prints proof throughput from the
// standby and from the primary (informational), and checks the standby really served the reads:
// its pg_stat_activity shows the server's pool, and once it is stopped reads fail while
// submissions still succeed.
//
// PostgreSQL only, and only as root or the postgres OS user (pg_basebackup and pg_ctl run as
// postgres); otherwise skipped with a warning naming why.

import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode, base64Encode, bytesEqual } from "../../src/core/encoding.ts";
import type { Hash } from "../../src/core/hash.ts";
import { parseVerifierKey, type Verifier } from "../../src/core/keys.ts";
import { verifyConsistency, verifyInclusion } from "../../src/core/proof-verify.ts";
import { hashTilePath } from "../../src/core/tiles.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { rootFromTiles } from "../support/faults-serve.ts";
import { ADMIN } from "../support/log.ts";
import { postEvents, type Served, serve, tempDir } from "../support/serve.ts";
import {
  ensureReplication,
  type Standby,
  standbyUnavailable,
  startStandby,
  waitReplayed,
} from "../support/standby.ts";

const PRIMARY = process.env.DATABASE_URL ?? "";
const unavailable = usingPostgres ? await standbyUnavailable(PRIMARY) : undefined;
if (unavailable) {
  console.warn(`\n*** test/replica: the hot-standby test is SKIPPED: ${unavailable} ***\n`);
}

const READ_SECONDS = Number(process.env.REPLICA_READ_SECONDS ?? 8);
const BENCH_SECONDS = Number(process.env.REPLICA_BENCH_SECONDS ?? 3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string, path: string): Promise<Response> {
  return fetch(`${url}${path}`, {
    headers: { Authorization: `Bearer ${ADMIN}` },
    signal: AbortSignal.timeout(20_000),
  });
}

async function getOk<T>(url: string, path: string): Promise<T> {
  const res = await get(url, path);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Seen {
  size: number;
  root: Hash;
}

function openCp(note: string, vkey: Verifier): Seen {
  const { checkpoint } = openCheckpoint(note, [vkey]);
  return { size: checkpoint.size, root: checkpoint.root };
}

/** Answers per second from `url`: `clients` loops GETting `path()` for `ms`. */
async function rate(url: string, path: () => string, ms: number, clients = 8): Promise<number> {
  let n = 0;
  const end = Date.now() + ms;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        const p = path();
        const res = await get(url, p);
        if (res.status !== 200) throw new Error(`GET ${p}: ${res.status}`);
        await res.arrayBuffer();
        n++;
      }
    }),
  );
  return n / ((Date.now() - started) / 1000);
}

describe.runIf(usingPostgres)("serve --read-database-url on a PostgreSQL hot standby", () => {
  let standby: Standby | undefined;
  let undoHba: (() => Promise<void>) | undefined;
  let db: TestDb | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    if (unavailable) return;
    const t0 = Date.now();
    undoHba = await ensureReplication(PRIMARY);
    standby = await startStandby(PRIMARY);
    timings.standbySetupMs = Date.now() - t0;
    db = await openTestDb();
    await waitReplayed(PRIMARY, standby.url);
  }, 180_000);

  afterAll(async () => {
    await standby?.destroy();
    await undoHba?.();
    await db?.close();
  }, 120_000);

  it.skipIf(Boolean(unavailable))(
    "every read served from the standby verifies while submissions stream in",
    { timeout: 240_000 },
    async () => {
      const sb = standby!;
      const a = await serve({
        data: tempDir(),
        schema: db!.schema,
        args: ["--read-database-url", sb.url],
      });
      let b: Served | undefined;
      try {
        const vkey = parseVerifierKey(a.proc.stdout().match(/verifier key\s+(\S+)/)![1]!);
        const keyFile = a.proc.stdout().match(/signer key\s+(\S+)/)![1]!;

        // 1. Submitters (distinct streams) and readers, concurrently.
        const acked = new Map<number, Hash>();
        const seen: Seen[] = [];
        let maxSeen = 0;
        let stop = false;
        const count = {
          batches: 0,
          checkpoints: 0,
          tileRoots: 0,
          consistency: 0,
          inclusion: 0,
          byHash: 0,
          entries: 0,
        };
        const guarded = async (f: () => Promise<void>) => {
          try {
            await f();
          } catch (e) {
            stop = true;
            throw e;
          }
        };
        const submitters = [0, 1, 2].map((w) =>
          guarded(async () => {
            for (let seq = 0; !stop; seq += 50) {
              const res = await postEvents(a.url, makeBatch(50, seq, { pane: `%w${w}` }));
              expect(res.status, await res.clone().text()).toBe(200);
              for (const r of (await res.json()) as { index: number; leafHash: string }[])
                acked.set(r.index, base64Decode(r.leafHash));
              count.batches++;
            }
          }),
        );
        const readers = [0, 1].map(() =>
          guarded(async () => {
            let prev: Seen | undefined;
            while (!stop) {
              // The checkpoint: signed, never older than one a finished read already saw.
              const floor = maxSeen;
              const res = await get(a.url, "/checkpoint");
              expect(res.status).toBe(200);
              const cp = openCp(await res.text(), vkey);
              expect(cp.size, "checkpoint size went backwards").toBeGreaterThanOrEqual(floor);
              maxSeen = Math.max(maxSeen, cp.size);
              seen.push(cp);
              count.checkpoints++;
              if (cp.size === 0) {
                await sleep(20);
                continue;
              }
              // Its tiles are servable now and give its root.
              const fromTiles = await rootFromTiles(a.url, cp.size, nodeHasher);
              expect(bytesEqual(fromTiles, cp.root), `tiles disagree at size ${cp.size}`).toBe(
                true,
              );
              count.tileRoots++;
              // Consistent with the previous one this reader saw and with a random earlier one.
              const olds = [prev, seen[Math.floor(Math.random() * seen.length)]];
              for (const old of olds) {
                if (!old || old.size === 0 || old.size > cp.size) continue;
                const p = await getOk<{ proof: string[] }>(
                  a.url,
                  `/v1/proof/consistency?from=${old.size}&to=${cp.size}`,
                );
                verifyConsistency(
                  old.size,
                  cp.size,
                  p.proof.map((h) => base64Decode(h)),
                  old.root,
                  cp.root,
                  nodeHasher,
                );
                count.consistency++;
              }
              prev = cp;
              // An entry below the size: its leaf, its own proof, and a proof to this checkpoint.
              const i = Math.floor(Math.random() * cp.size);
              const entryFloor = maxSeen;
              const e = await getOk<{
                leaf: string;
                leafHash: string;
                checkpoint: string | null;
                size: number | null;
                proof: string[] | null;
              }>(a.url, `/v1/entries/${i}`);
              const leafHash = base64Decode(e.leafHash);
              expect(bytesEqual(nodeHasher.leaf(base64Decode(e.leaf)), leafHash)).toBe(true);
              const mine = acked.get(i);
              if (mine) expect(bytesEqual(mine, leafHash), `leaf ${i} changed`).toBe(true);
              expect(e.checkpoint && e.proof && e.size !== null, `entry ${i}: no proof`).toBe(true);
              const ecp = openCp(e.checkpoint!, vkey);
              expect(ecp.size).toBe(e.size);
              expect(ecp.size).toBeGreaterThanOrEqual(entryFloor);
              maxSeen = Math.max(maxSeen, ecp.size);
              verifyInclusion(
                i,
                ecp.size,
                leafHash,
                e.proof!.map((h) => base64Decode(h)),
                ecp.root,
                nodeHasher,
              );
              count.entries++;
              const byHash = count.inclusion % 4 === 0;
              const q = byHash
                ? `hash=${encodeURIComponent(base64Encode(leafHash))}`
                : `index=${i}`;
              const p = await getOk<{ index: number; proof: string[] }>(
                a.url,
                `/v1/proof/inclusion?${q}&size=${cp.size}`,
              );
              expect(p.index).toBe(i);
              verifyInclusion(
                i,
                cp.size,
                leafHash,
                p.proof.map((h) => base64Decode(h)),
                cp.root,
                nodeHasher,
              );
              count.inclusion++;
              if (byHash) count.byHash++;
            }
          }),
        );
        const t1 = Date.now();
        await Promise.race([sleep(READ_SECONDS * 1000), Promise.all([...submitters, ...readers])]);
        stop = true;
        await Promise.all([...submitters, ...readers]);
        timings.concurrentPhaseMs = Date.now() - t1;
        console.log(
          `standby reads under load, ${(timings.concurrentPhaseMs / 1000).toFixed(1)} s: ` +
            `${count.batches} batches of 50 acknowledged (${acked.size} events), ` +
            `${count.checkpoints} checkpoints read (largest ${maxSeen}), ${count.tileRoots} roots from tiles, ` +
            `${count.consistency} consistency proofs, ${count.inclusion} inclusion proofs (${count.byHash} by hash), ` +
            `${count.entries} entries, all verified`,
        );
        expect(acked.size).toBeGreaterThan(0);
        expect(count.tileRoots).toBeGreaterThan(0);
        expect(count.inclusion).toBeGreaterThan(0);
        expect(maxSeen).toBeGreaterThan(0);

        // The standby catches up with the primary's newest checkpoint.
        const [{ size: primarySize }] = (await db!.sql.query<{ size: number }>(
          "SELECT max(size)::int8 AS size FROM checkpoints",
        )) as [{ size: number }];
        await waitReplayed(PRIMARY, sb.url);
        const final = openCp(await (await get(a.url, "/checkpoint")).text(), vkey);
        expect(final.size).toBeGreaterThanOrEqual(primarySize);
        expect(bytesEqual(await rootFromTiles(a.url, final.size, nodeHasher), final.root)).toBe(
          true,
        );

        // Read-your-writes through the standby (informational: replication lag is allowed). A
        // submission acknowledged with ?wait=checkpoint, then its entry and the checkpoint read at
        // once: how often the standby has not replayed them yet.
        const ryw = { leafMissing: 0, noCheckpoint: 0, covered: 0, checkpointBehind: 0 };
        for (let k = 0; k < 20; k++) {
          const res = await fetch(`${a.url}/v1/events?wait=checkpoint`, {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
            body: JSON.stringify(makeBatch(1, k, { pane: "%ryw" })),
          });
          expect(res.status).toBe(200);
          const [{ index }] = (await res.json()) as [{ index: number }];
          const [cpText, entry] = await Promise.all([
            get(a.url, "/checkpoint").then((r) => r.text()),
            get(a.url, `/v1/entries/${index}`),
          ]);
          if (openCp(cpText, vkey).size <= index) ryw.checkpointBehind++;
          if (entry.status === 404) ryw.leafMissing++;
          else if (((await entry.json()) as { proof: unknown }).proof === null) ryw.noCheckpoint++;
          else ryw.covered++;
        }
        console.log(
          `read-your-writes right after ?wait=checkpoint, 20 tries (informational): ${JSON.stringify(ryw)}`,
        );

        // 2. The standby's sessions include the server's read pool.
        const mon = postgres(sb.url, {
          max: 1,
          onnotice: () => {},
          connection: { application_name: "tmuxtrail-standby-monitor" },
        });
        try {
          const [r] = await mon<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND application_name <> 'tmuxtrail-standby-monitor'`;
          console.log(`standby pg_stat_activity: ${r!.n} client connection(s) besides this one`);
          expect(r!.n).toBeGreaterThan(0);
        } finally {
          await mon.end({ timeout: 5 });
        }

        // 3. Throughput (informational): proofs from the standby vs from the primary.
        b = await serve({ data: tempDir(), schema: db!.schema, args: ["--key", keyFile] });
        const size = final.size;
        const fullTiles = Math.floor(size / 256);
        const proof = () =>
          `/v1/proof/inclusion?index=${Math.floor(Math.random() * size)}&size=${size}`;
        const tile = () =>
          `/${hashTilePath({ level: 0, index: Math.floor(Math.random() * fullTiles), width: 256 })}`;
        const bench: Record<string, string> = {};
        for (const [name, path] of [
          ["inclusion proofs", proof],
          ["full hash tiles", tile],
        ] as const) {
          if (name === "full hash tiles" && fullTiles === 0) continue;
          await rate(a.url, path, 500);
          const fromStandby = await rate(a.url, path, BENCH_SECONDS * 1000);
          await rate(b.url, path, 500);
          const fromPrimary = await rate(b.url, path, BENCH_SECONDS * 1000);
          bench[name] =
            `${fromStandby.toFixed(0)}/s from the standby, ${fromPrimary.toFixed(0)}/s from the primary`;
        }
        console.log(
          `read throughput at size ${size}, 8 clients, ${BENCH_SECONDS} s each (informational; proofs come mostly from the in-process node cache, tiles are a query each): ${JSON.stringify(bench)}`,
        );

        // 4. With the standby stopped, reads through it fail; submissions still succeed.
        await sb.stop();
        const cpRes = await get(a.url, "/checkpoint");
        expect(cpRes.status, "reads still answered without the standby").toBeGreaterThanOrEqual(
          500,
        );
        // (Not a proof: proofs of published sizes may come whole from the node cache.)
        const tileRes = await get(a.url, "/tile/0/000.p/1");
        expect(tileRes.status).toBeGreaterThanOrEqual(500);
        const entryRes = await get(a.url, "/v1/entries/0");
        expect(entryRes.status).toBeGreaterThanOrEqual(500);
        const health = await get(a.url, "/healthz");
        const healthStatus = health.status;
        await health.arrayBuffer();
        const post = await postEvents(a.url, makeBatch(5, 0, { pane: "%after" }));
        expect(post.status, await post.clone().text()).toBe(200);
        // The server without a read database reads the primary, which has them.
        const after = (await post.json()) as { index: number }[];
        const last = after[after.length - 1]!.index;
        for (let t = Date.now(); ; ) {
          const cp = openCp(await (await get(b.url, "/checkpoint")).text(), vkey);
          if (cp.size > last) break;
          if (Date.now() - t > 10_000) throw new Error("no checkpoint covers the last submission");
          await sleep(100);
        }
        console.log(
          `standby stopped: /checkpoint ${cpRes.status}, tile ${tileRes.status}, entry ${entryRes.status}, ` +
            `submission ${post.status}, /healthz ${healthStatus} (informational); timings ${JSON.stringify(timings)}`,
        );
      } finally {
        a.proc.child.kill("SIGTERM");
        b?.proc.child.kill("SIGTERM");
        await Promise.all([a.proc.exited, b?.proc.exited]);
      }
    },
  );
});
