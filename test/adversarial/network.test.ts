// The attacker is on the network: a man in the middle between a witness and a log served over
// plain http rewrites the hash tiles the witness reads (it cannot forge the log's signed
// checkpoint). A witness that read such tiles has found a lying tile server, not a fork: it must
// not record fork evidence, must not cosign the checkpoint those tiles fail to reproduce, must say
// so in /metrics and in its log, and must cosign again once the tiles are true.
import { randomBytes } from "node:crypto";
import { type ServerType, serve as serveHttp } from "@hono/node-server";
import { afterEach, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint.ts";
import { hexEncode, utf8Encode } from "../../src/core/encoding.ts";
import { sha256 } from "../../src/core/hash.ts";
import { parseVerifierKey } from "../../src/core/keys.ts";
import { WITNESS_MIGRATIONS } from "../../src/db/migrate.ts";
import { type RunningWitness, startWitness } from "../../src/witness/witness.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { type Answer, flipByte, type LyingProxy, lyingProxy } from "../support/lying-proxy.ts";
import { tempDir } from "../support/serve.ts";
import { until } from "../support/wait.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/** A real log (sequencer, publisher, tiles) over HTTP, a proxy in front, a witness following it. */
async function setup() {
  const log: TestLog = await openTestLog();
  cleanup.push(() => log.close());
  const http: ServerType = await new Promise((resolve) => {
    const s = serveHttp({ fetch: log.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        (http as unknown as { closeAllConnections(): void }).closeAllConnections();
        http.close(() => r());
      }),
  );
  const logUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const lie: { current: (path: string, a: Answer) => Answer | undefined } = {
    current: () => undefined,
  };
  const proxy: LyingProxy = await lyingProxy(logUrl, (p, a) => lie.current(p, a));
  cleanup.push(() => proxy.close());
  const wdb: TestDb | undefined = usingPostgres ? await openTestDb(WITNESS_MIGRATIONS) : undefined;
  const lines: string[] = [];
  const witness: RunningWitness = await startWitness(
    {
      port: 0,
      host: "127.0.0.1",
      dataDir: tempDir("tt-network-"),
      databaseUrl: wdb?.url,
      databaseSchema: wdb?.schema,
      logs: [{ origin: ORIGIN, vkeys: [TEST_KEY.verifierKey], url: proxy.url }],
      peers: [],
      gossipIntervalMs: 60_000,
      pollIntervalMs: 100,
    },
    (m) => lines.push(m),
  );
  cleanup.push(async () => {
    await witness.close();
    await wdb?.close();
  });
  let seq = 0;
  const append = async (n: number) => {
    const res = await log.req("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(makeBatch(n, seq, { pane: "%mitm" })),
    });
    expect(res.status).toBe(200);
    seq += n;
    await log.ctx.publisher.waitFor(seq, 20_000);
    return seq;
  };
  const cosigned = async () => {
    const res = await fetch(`${witness.url}/${hexEncode(sha256(utf8Encode(ORIGIN)))}/checkpoint`);
    if (!res.ok) return 0;
    return openCheckpoint(await res.text(), [parseVerifierKey(TEST_KEY.verifierKey)]).checkpoint
      .size;
  };
  const evidence = async () => (await (await fetch(`${witness.url}/v1/evidence`)).json()) as [];
  const badTiles = async () => {
    const text = await (await fetch(`${witness.url}/metrics`)).text();
    const m = text.match(/^tmuxtrail_witness_bad_tiles_total\{origin="([^"]+)"\} (\d+)$/m);
    return m && m[1] === ORIGIN ? Number(m[2]) : 0;
  };
  return { proxy, lie, append, cosigned, evidence, badTiles, lines, witness };
}

const isHashTile = (path: string) =>
  path.startsWith("/tile/") && !path.startsWith("/tile/entries/");

/** Three ways to rewrite a hash tile: each leaves the tiles unable to reproduce the signed root. */
const REWRITES: [string, (body: Uint8Array) => Uint8Array][] = [
  ["one flipped byte", (body) => flipByte(body, body.length - 1)],
  ["a tile cut short", (body) => body.subarray(0, body.length - 32)],
  [
    "a hash replaced",
    (body) => {
      const out = body.slice();
      out.set(randomBytes(32), 0);
      return out;
    },
  ],
];

describe("a man in the middle rewrites the log's hash tiles on their way to a witness", () => {
  it("whatever the rewrite, the witness records no fork, does not cosign the checkpoint the tiles fail, counts it in /metrics and its log, and cosigns again once the tiles are true", {
    timeout: 180_000,
  }, async () => {
    const t = await setup();
    let cosigned = await t.append(10);
    await until(
      async () => ((await t.cosigned()) >= cosigned ? true : undefined),
      30_000,
      "the first cosignature",
    );
    // From old 0 there is nothing to prove; the witness may read the tiles after cosigning, to
    // keep them for its peers (src/witness/tile-store.ts), and keeps only tiles that hash to it.
    let bad = 0;
    for (const [name, rewrite] of REWRITES) {
      t.lie.current = (path, a) =>
        isHashTile(path) && a.status === 200 ? { status: 200, body: rewrite(a.body) } : undefined;
      const lied = await t.append(7);
      bad = await until(
        async () => {
          const n = await t.badTiles();
          return n >= bad + 2 ? n : undefined; // two polls at least
        },
        30_000,
        `${name}: bad tiles counted in /metrics`,
      );
      expect(await t.evidence(), name).toEqual([]);
      expect(await t.cosigned(), name).toBe(cosigned);
      expect(t.lines.join("\n"), name).toMatch(
        new RegExp(`not cosigning size ${lied}: .*not a fork; trying again at the next poll`),
      );
      // The lie stops: the same witness cosigns the log's newest checkpoint.
      t.lie.current = () => undefined;
      cosigned = await t.append(3);
      await until(
        async () => ((await t.cosigned()) >= cosigned ? true : undefined),
        30_000,
        `${name}: cosigning again`,
      );
      expect(await t.evidence(), name).toEqual([]);
    }
  });
});
