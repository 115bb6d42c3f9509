// The attacker holds a submit key (an agent's, or one taken from a host). With it they must not
// write as the log (its erasure and access events, its host), slip an event past POST /v1/events
// as an "opaque" leaf that verifiers then read as one, crash the API, drive an auditor's terminal
// through what `tail` prints, or bring back content that was erased by sending its event again.

import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type ServerType, serve as serveHttp } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningLogServer, startLogServer } from "../../src/api/log-server.ts";
import { base64Encode, utf8Encode } from "../../src/core/encoding.ts";
import { type EventMeta, parseSubmission } from "../../src/core/events.ts";
import { canonicalJson } from "../../src/core/jcs.ts";
import type { SessionBundle } from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { formatTlogProof } from "../../src/core/tlog-proof.ts";
import { rewriteContents } from "../../src/db/batch-store.ts";
import { connectPostgres, type Sql } from "../../src/db/sql.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { startRetention } from "../../src/server/erase.ts";
import { eventInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { clampSize, MAX_COLS, MAX_ROWS } from "../../src/ui/terminal-size.ts";
import { runCli } from "../support/cli.ts";
import { openTestDb, type TestDb, usingPostgres } from "../support/db.ts";
import { makeBatch, makeSubmission } from "../support/events.ts";
import { ADMIN, ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { tempDir } from "../support/serve.ts";
import { contentCopies } from "../support/stored.ts";

const TIME = "2026-11-24T19:00:00.000Z";

/** A request through the test log's app as `token`. */
function send(log: TestLog, path: string, body: Uint8Array | string, type: string, token: string) {
  return log.req(path, {
    method: "POST",
    headers: { "Content-Type": type },
    body: body as BodyInit,
    token,
  });
}
const postLeaf = (log: TestLog, leaf: Uint8Array | string, token: string) =>
  send(log, "/v1/leaves", leaf, "application/octet-stream", token);
const postEvents = (log: TestLog, events: unknown[], token: string) =>
  send(log, "/v1/events", JSON.stringify(events), "application/json", token);

async function submitKey(log: TestLog, host: string): Promise<string> {
  const res = await log.req("/v1/keys", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: `agent ${host}`, scopes: ["submit"], host }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

async function treeSize(sql: Sql): Promise<number> {
  const [row] = await sql.query<{ size: number }>("SELECT size FROM log_state WHERE id = 1");
  return Number(row!.size);
}

/** The log's own erasure event, as OwnEventWriter writes it, in any stream the attacker chooses. */
function erasureMeta(over: Partial<EventMeta> = {}): EventMeta {
  return {
    v: 1,
    host: ORIGIN,
    server: "log",
    session: "log",
    window: "-",
    pane: "erasure",
    user: "admin",
    seq: 0,
    time: TIME,
    type: "erasure",
    erasure: { indexes: [[0, 0]], key: "admin", reason: "cleanup" },
    ...over,
  };
}

/** The log's own access event, in any stream the attacker chooses. */
function accessMeta(over: Partial<EventMeta> = {}): EventMeta {
  const { erasure: _, ...rest } = erasureMeta({ pane: "access", type: "access" });
  return { ...rest, access: { key: "k1", read: "nothing" }, ...over };
}

describe("a submitter cannot write as the log or pass an event off as an opaque leaf", () => {
  let log: TestLog;
  let token: string;
  beforeAll(async () => {
    log = await openTestLog();
    token = await submitKey(log, "web-1");
  });
  afterAll(() => log.close());

  const text = (meta: EventMeta) => canonicalJson(meta);
  // Each reads as an event to some verifier: refused, and the tree does not grow.
  const forged: [string, string | Uint8Array][] = [
    [
      // parseLeaf (tail, bundles, the UI) reads it as an erasure of leaf 0; the old check
      // (readLeafEvent) called it opaque because of the reversed first range.
      "an erasure with a reversed range, in an agent's stream",
      text(
        erasureMeta({
          host: "web-1",
          erasure: {
            indexes: [
              [5, 3],
              [0, 0],
            ],
            key: "admin",
            reason: "x",
          },
        }),
      ),
    ],
    [
      "an erasure event as the log writes them",
      text(erasureMeta({ host: "web-1", server: "default", pane: "%3" })),
    ],
    ["an access event", text(accessMeta({ host: "web-1" }))],
    [
      "an output event with whitespace around it",
      `\n ${new TextDecoder().decode(parseSubmission(makeSubmission({ seq: 90 })).leaf)}\n`,
    ],
    [
      "an output event after a UTF-8 BOM",
      `\ufeff${new TextDecoder().decode(parseSubmission(makeSubmission({ seq: 91 })).leaf)}`,
    ],
    [
      "an event in UTF-16LE (json.loads of bytes reads it)",
      new Uint8Array(Buffer.from(text(erasureMeta({ host: "web-1" })), "utf16le")),
    ],
    ["an event with an invalid field", '{"v":2,"host":"web-1","type":"nonsense"}'],
    ["an object with an event type", '{"type":"erasure","erasure":{"indexes":[[0,9]]}}'],
    ["a duplicated type member", '{"type":"invoice","type":"access","access":{}}'],
  ];

  for (const [name, leaf] of forged) {
    it(`POST /v1/leaves refuses ${name} (4xx, nothing sequenced)`, async () => {
      const before = await treeSize(log.db.sql);
      const res = await postLeaf(log, leaf, token);
      expect(res.status, await res.clone().text()).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await treeSize(log.db.sql)).toBe(before);
    });
  }

  it("POST /v1/leaves refuses an event-shaped leaf in the log's own stream with 403 reserved", async () => {
    for (const leaf of [text(erasureMeta()), `{"host":${JSON.stringify(ORIGIN)},"note":"hi"}`]) {
      const res = await postLeaf(log, leaf, token);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("reserved");
    }
  });

  it('POST /v1/leaves answers 400 (not 500) for an event leaf with "payload": null, telling the submitter to use /v1/events', async () => {
    const meta = JSON.parse(
      new TextDecoder().decode(parseSubmission(makeSubmission({ seq: 92 })).leaf),
    );
    const res = await postLeaf(log, JSON.stringify({ ...meta, payload: null }), token);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /POST \/v1\/events/,
    );
  });

  it("POST /v1/leaves still takes opaque leaves, JSON ones included", async () => {
    for (const leaf of [
      new Uint8Array([0, 1, 2, 0xff]),
      "plain text",
      '{"type":"invoice","id":7}',
      "[1,2,3]",
      '{"hostname":"x","version":1}',
    ]) {
      expect((await postLeaf(log, leaf, token)).status).toBe(200);
    }
  });

  it("POST /v1/events refuses erasure and access events and the log's host (403 reserved), and payload null (400)", async () => {
    const before = await treeSize(log.db.sql);
    for (const ev of [
      erasureMeta({ host: "web-1", pane: "%3", server: "s" }),
      accessMeta({ host: "web-1" }),
    ]) {
      const res = await postEvents(log, [ev], token);
      expect(res.status).toBe(403);
    }
    // The admin token is bound to no host: the log's own host is still refused.
    const own = await postEvents(log, [makeSubmission({ seq: 0, host: ORIGIN })], ADMIN);
    expect(own.status).toBe(403);
    expect(((await own.json()) as { error: { code: string } }).error.code).toBe("reserved");
    const nul = await postEvents(log, [{ ...makeSubmission({ seq: 93 }), payload: null }], token);
    expect(nul.status).toBe(400);
    expect(await treeSize(log.db.sql)).toBe(before);
  });
});

describe("a forged erasure let into the tree before this fix explains nothing", () => {
  let log: TestLog;
  beforeAll(async () => {
    log = await openTestLog();
  });
  afterAll(() => log.close());

  // Before the fix, POST /v1/leaves took the first (a reversed range made the audit's reader call
  // it opaque, while bundles read it as the log's erasure); the second is the log's host with an
  // agent's stream, which bundles honoured on the host alone. Both are sequenced here as raw
  // leaves, as that endpoint did, to stand for what an old tree may hold.
  const forgeries: [string, (idx: number) => EventMeta][] = [
    [
      "an erasure in the log's own stream with a reversed range",
      (idx) =>
        erasureMeta({
          seq: 7,
          erasure: {
            indexes: [
              [idx + 5, idx + 1],
              [idx, idx],
            ],
            key: "admin",
            reason: "x",
          },
        }),
    ],
    [
      "an erasure with the log's host in another stream",
      (idx) =>
        erasureMeta({
          server: "default",
          pane: "%3",
          erasure: { indexes: [[idx, idx]], key: "admin", reason: "x" },
        }),
    ],
  ];
  for (const [name, forge] of forgeries) {
    it(`a bundle does not honour ${name}: the missing content stays a failure`, async () => {
      const n = forgeries.findIndex(([x]) => x === name);
      const session = `$forged${n}`;
      const res = await postEvents(
        log,
        [makeSubmission({ seq: 0, session, pane: `%forged${n}` })],
        ADMIN,
      );
      expect(res.status).toBe(200);
      const { index } = ((await res.json()) as Ack[])[0]!;
      const leaf = utf8Encode(canonicalJson(forge(index)));
      const [forged] = await log.ctx.sequencer.submit([{ leaf, leafHash: nodeHasher.leaf(leaf) }]);
      // The content goes (by whoever wants it gone), and the forged leaf is to explain it.
      const [at] = await log.db.sql.query<{ batch: number; slot: number }>(
        "SELECT batch, slot FROM leaves WHERE idx = $1",
        [index],
      );
      await log.db.sql.begin((tx) => rewriteContents(tx, at!.batch, [at!.slot]));
      await log.ctx.publisher.waitFor(forged!.index + 1, 10_000);
      const id = sessionId("web-1", "default@1764050000", session);
      const bundle = (await (await log.req(`/v1/sessions/${id}/export`)).json()) as SessionBundle;
      const size = Number(bundle.checkpoint.split("\n")[1]);
      const proof = (await (
        await log.req(`/v1/proof/inclusion?index=${forged!.index}&size=${size}`)
      ).json()) as { proof: string[] };
      bundle.erasures.push({
        index: forged!.index,
        leaf: new TextDecoder().decode(leaf),
        payload: null,
        proof: formatTlogProof({
          index: forged!.index,
          proof: proof.proof.map((h) => new Uint8Array(Buffer.from(h, "base64"))),
          checkpoint: bundle.checkpoint,
        }),
      });
      const report = verifySessionBundle(bundle, { logKeys: [TEST_KEY.verifierKey] });
      expect(report.ok).toBe(false);
      expect(report.erased).toEqual([]);
      expect(report.failures.map((f) => f.message).join("\n")).toMatch(
        new RegExp(`event #${index}: content is missing and no erasure event names it`),
      );
    });
  }
});

describe("what tail prints cannot drive the reader's terminal", () => {
  let log: TestLog;
  let server: ServerType;
  let url: string;
  beforeAll(async () => {
    log = await openTestLog();
    server = await new Promise<ServerType>((resolve) => {
      const s = serveHttp({ fetch: log.app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
        resolve(s),
      );
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await log.close();
  });

  it("C0, C1 and DEL from leaves and content are printed as visible escapes", async () => {
    // The schema refuses C0 and DEL in the stream fields but not C1 controls: a submitter picks
    // its user and session names; content may hold anything. (An erasure's reason must be
    // printable text since: test/adversarial/operator-config.test.ts.)
    const user = "mallory\u009b2J";
    const token = await submitKey(log, "web-1");
    const shown = makeSubmission({
      seq: 0,
      user,
      session: "$1\u009b31m",
      content: "\u001b]0;owned\u0007 \u009b31mred\u007f",
    });
    const erased = makeSubmission({ seq: 0, session: "$2", pane: "%9" });
    const res = await postEvents(log, [shown, erased], token);
    expect(res.status, await res.clone().text()).toBe(200);
    const gone = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        session: sessionId("web-1", "default@1764050000", "$2"),
        reason: "gdpr request #7",
      }),
    });
    expect(gone.status, await gone.clone().text()).toBe(200);
    await log.ctx.publisher.waitFor(await treeSize(log.db.sql), 10_000);

    const tokenFile = join(tempDir("tt-adv-tail-"), "token");
    writeFileSync(tokenFile, ADMIN);
    const base = [
      "tail",
      "--log",
      url,
      "--token-file",
      tokenFile,
      "--log-key",
      TEST_KEY.verifierKey,
    ];
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

    const plain = await runCli(base);
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).not.toMatch(raw);
    expect(plain.out).toContain("mallory\\x9b2J");
    expect(plain.out).toContain("$1\\x9b31m/%3");
    expect(plain.out).toContain("gdpr request #7");

    const json = await runCli([...base, "--json"]);
    expect(json.code, json.err).toBe(0);
    expect(json.out).not.toMatch(raw);
    // The same values, escaped in JSON.
    const lines = json.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event?: { user: string }; content?: string });
    expect(lines.some((l) => l.event?.user === user)).toBe(true);
    expect(lines.some((l) => l.content === "\u001b]0;owned\u0007 \u009b31mred\u007f")).toBe(true);
  });
});

/** Where the content of a leaf hash is stored (any batch slot, command_payloads), if anywhere. */
function payloadOf(sql: Sql, leafHash: string): Promise<string[]> {
  return contentCopies(sql, new Uint8Array(Buffer.from(leafHash, "base64")));
}

interface Ack {
  index: number;
  leafHash: string;
  duplicate: boolean;
}

/** A command event's content, which is also stored in command_payloads. */
const commandContent = JSON.stringify({
  cwd: "/srv",
  end: "2026-11-24T19:00:01.000Z",
  exit: 0,
  line: "cat secret",
  start: "2026-11-24T19:00:00.500Z",
});

describe("erasure is permanent: sending an erased event again brings no content back", () => {
  let log: TestLog;
  let token: string;
  beforeAll(async () => {
    log = await openTestLog();
    token = await submitKey(log, "web-1");
  });
  afterAll(() => log.close());

  async function submitAndErase(session: string, time?: string, type?: string) {
    const content = type === "command" ? commandContent : undefined;
    const batch = makeBatch(3, 0, { session, pane: `%${session}`, time, type, content });
    const res = await postEvents(log, batch, token);
    expect(res.status).toBe(200);
    const acks = (await res.json()) as Ack[];
    return { batch, acks };
  }

  async function eraseSession(session: string) {
    const res = await log.req("/v1/erasures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        session: sessionId("web-1", "default@1764050000", session),
        reason: "gdpr request",
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  /** The retry answers every event as a duplicate at its original index, and stores nothing. */
  async function expectNoContentBack(sql: Sql, acks: Ack[], retry: Ack[]) {
    expect(retry.map((r) => [r.index, r.duplicate])).toEqual(acks.map((a) => [a.index, true]));
    for (const a of acks) {
      expect(await payloadOf(sql, a.leafHash)).toEqual([]);
      const e = (await (await log.req(`/v1/entries/${a.index}`)).json()) as {
        payload: unknown;
        erased: boolean;
      };
      expect(e).toMatchObject({ payload: null, erased: true });
    }
  }

  it("through POST /v1/events (an agent's retry)", async () => {
    const { batch, acks } = await submitAndErase("$retry");
    await eraseSession("$retry");
    const again = await postEvents(log, batch, token);
    expect(again.status).toBe(200);
    await expectNoContentBack(log.db.sql, acks, (await again.json()) as Ack[]);
  });

  it("through another process's pipelined sequencer", async () => {
    // A second process on the same database: its own pool on PostgreSQL, its own sequencer.
    const other = log.db.url
      ? connectPostgres(log.db.url, { schema: log.db.schema, max: 2 })
      : log.db.sql;
    const seq = new Sequencer(other, { maxBatch: 100, lingerMs: 1, hasher: nodeHasher });
    try {
      const input = (s: Record<string, unknown>) => {
        const p = parseSubmission(s, nodeHasher.digest);
        return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
      };
      // It integrates first, so it then pipelines from the tree it remembers.
      await seq.submit([input(makeSubmission({ seq: 0, pane: "%warm" }))]);
      const { batch, acks } = await submitAndErase("$pipelined");
      await eraseSession("$pipelined");
      const retry = await seq.submit(batch.map(input));
      await expectNoContentBack(
        log.db.sql,
        acks,
        retry.map((r) => ({ ...r, leafHash: base64Encode(r.leafHash) })),
      );
    } finally {
      await seq.close();
      if (other !== log.db.sql) await other.close();
    }
  });

  it("after time-based retention erased it", async () => {
    const { batch, acks } = await submitAndErase("$old", "2020-01-01T00:00:00.000Z");
    const retention = startRetention(
      log.db.sql,
      log.ctx.ownEvents,
      86_400_000,
      () => {},
      3_600_000,
    );
    try {
      const deadline = Date.now() + 20_000;
      while ((await payloadOf(log.db.sql, acks[0]!.leafHash)).length > 0) {
        if (Date.now() > deadline) throw new Error("retention did not run");
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await retention.stop();
    }
    const again = await postEvents(log, batch, token);
    await expectNoContentBack(log.db.sql, acks, (await again.json()) as Ack[]);
  });

  it.skipIf(!usingPostgres)(
    "an insert that waited for the erasing transaction does not commit the content",
    async () => {
      // The race: a retry stages a command's content while an erasure holds its command_payloads
      // row (deleted, not yet committed); the insert waits for it, then finds no row and inserts.
      // The trigger, which runs after the insert, sees the committed erased_leaves row and
      // deletes it again. (Batches have no such race: a retry's slot is a new one, which step 3
      // scrubs because the leaf is already in the tree.)
      const { acks } = await submitAndErase("$race", undefined, "command");
      const hash = new Uint8Array(Buffer.from(acks[0]!.leafHash, "base64"));
      const a = connectPostgres(log.db.url!, { schema: log.db.schema, max: 1 });
      const b = connectPostgres(log.db.url!, { schema: log.db.schema, max: 1 });
      try {
        let release!: () => void;
        const held = new Promise<void>((r) => {
          release = r;
        });
        let locked!: () => void;
        const deleted = new Promise<void>((r) => {
          locked = r;
        });
        const erasing = a.begin(async (tx) => {
          await tx.query("INSERT INTO erased_leaves (leaf_hash) VALUES ($1)", [hash]);
          await tx.query("DELETE FROM command_payloads WHERE leaf_hash = $1", [hash]);
          locked();
          await held;
        });
        await Promise.race([deleted, erasing]);
        const staging = b.query(
          `INSERT INTO command_payloads (leaf_hash, content) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [hash, utf8Encode("content again")],
        );
        let settled = false;
        void staging.then(() => {
          settled = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(settled).toBe(false); // the insert waits on the row the erasure deleted
        release();
        await erasing;
        await staging;
        const left = await b.query("SELECT 1 FROM command_payloads WHERE leaf_hash = $1", [hash]);
        expect(left).toEqual([]);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});

describe("erasure stays permanent across a restart of the log", () => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    if (usingPostgres) db = await openTestDb();
  });
  afterAll(() => db?.close());

  it("an event erased before a restart is a duplicate without content after it", {
    timeout: 60_000,
  }, async () => {
    const dataDir = tempDir("tt-adv-restart-");
    const start = () =>
      startLogServer(
        {
          port: 0,
          host: "127.0.0.1",
          dataDir,
          databaseUrl: db?.url,
          databaseSchema: db?.schema,
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
    const call = (l: RunningLogServer, path: string, body: unknown) =>
      fetch(`${l.url}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify(body),
      });
    const batch = makeBatch(2, 0, { session: "$restart", pane: "%restart" });
    let l = await start();
    let acks: Ack[];
    try {
      acks = (await (await call(l, "/v1/events", batch)).json()) as Ack[];
      const erased = await call(l, "/v1/erasures", {
        session: sessionId("web-1", "default@1764050000", "$restart"),
        reason: "gdpr",
      });
      expect(erased.status).toBe(200);
    } finally {
      await l.close();
    }
    l = await start();
    try {
      const retry = (await (await call(l, "/v1/events", batch)).json()) as Ack[];
      expect(retry.map((r) => [r.index, r.duplicate])).toEqual(acks.map((a) => [a.index, true]));
      for (const a of acks) expect(await payloadOf(l.ctx.sql, a.leafHash)).toEqual([]);
    } finally {
      await l.close();
    }
  });
});

describe("a host's claimed terminal size cannot take down the viewer's browser tab", () => {
  it("sizes from pane-open and resize events are clamped to what the player draws", () => {
    // The event schema allows up to 100000 x 100000; the web UI draws at most MAX_COLS x MAX_ROWS
    // (test/ui/ui.test.ts plays such a session in Chromium).
    expect(clampSize(100_000, 100_000)).toEqual({ cols: MAX_COLS, rows: MAX_ROWS });
    expect(clampSize(120, 40)).toEqual({ cols: 120, rows: 40 });
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, "12x", undefined, null]) {
      expect(clampSize(bad, bad)).toEqual({ cols: 80, rows: 24 });
    }
    expect(clampSize(80.9, 1)).toEqual({ cols: 80, rows: 1 });
  });
});

describe("a submitter sends two different events for one stream position in one request", () => {
  it("is a 409 conflict that writes nothing to the tree, not a 500 (found by fuzz-http)", async () => {
    const log = await openTestLog();
    try {
      const post = (body: unknown) =>
        log.req("/v1/events", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
      const a = makeSubmission({ seq: 0, content: "one\r\n" });
      const b = makeSubmission({ seq: 0, content: "two\r\n" });
      const res = await post([a, b]);
      expect(res.status, await res.clone().text()).toBe(409);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("conflict");
      const [state] = await log.db.sql.query<{ size: number }>("SELECT size FROM log_state");
      expect(Number(state!.size)).toBe(0);
      // The same event twice in one request is one leaf, as before.
      const same = await post([a, a]);
      expect(same.status).toBe(200);
      const acks = (await same.json()) as { index: number }[];
      expect(acks[0]!.index).toBe(acks[1]!.index);
    } finally {
      await log.close();
    }
  });
});
