// The log's operator against the auditor who holds a session bundle (issue 16, items 6-10): the
// operator writes bundles by hand, signs them with a key of its own, edits the header, leaves the
// session's tail out, serves another session under the id asked for, and records pane output
// that would drive the auditor's terminal. Each attack is a crafted bundle file, or a small HTTP
// server standing in for the log, played against the real CLI (runCli).

import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idsAsPositionals } from "../../src/cli/session-arg.ts";
import { base64Decode, utf8Encode } from "../../src/core/encoding.ts";
import { parseLeaf } from "../../src/core/events.ts";
import { generateKey, parseSignerKey } from "../../src/core/keys.ts";
import { signNote, splitNote } from "../../src/core/note.ts";
import {
  BUNDLE_FORMAT_V1,
  parseSessionBundle,
  type SessionBundle,
} from "../../src/core/session-bundle.ts";
import { buildCasts } from "../../src/core/session-cast.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { terminalSafe } from "../../src/core/terminal-filter.ts";
import { formatTlogProof, parseTlogProof } from "../../src/core/tlog-proof.ts";
import { runCli } from "../support/cli.ts";
import { makeSubmission } from "../support/events.ts";
import { ORIGIN, openTestLog, TEST_KEY, type TestLog } from "../support/log.ts";
import { tempDir } from "../support/serve.ts";

const HOST = "web-1";
const SERVER = "default@1764050000";
// "$13" is a session whose id begins with "-" (ids are base64url): -C4fZos50S1t2mko_4atoQ.
const DASH_SESSION = "$13";
const DASH_ID = sessionId(HOST, SERVER, DASH_SESSION);
const OTHER_ID = sessionId(HOST, SERVER, "$1");
const K = TEST_KEY.verifierKey;
// What must never reach an auditor's terminal raw: C0 but newline/tab, DEL, C1.
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const EVIL = "\u001b]52;c;cm0gLXJmIH4=\u0007\u001b]0;pwned\u0007";

let log: TestLog;
let dir: string;
let url: string;
let server: Server;
/** What the stand-in log answers for a path; by default the real log's answer. */
let answer: (path: string) => Promise<{ status: number; body: string }>;
let bundle: SessionBundle;
let bundleFile: string;
let keyFile: string;

function write(name: string, value: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof value === "string" ? value : JSON.stringify(value));
  return f;
}

/** The bundle re-signed by `seed`'s key, under the log's own origin, carrying that key. */
function resigned(b: SessionBundle, seed: number): SessionBundle {
  const evil = generateKey(ORIGIN, new Uint8Array(32).fill(seed));
  const note = signNote(splitNote(b.checkpoint).text, [parseSignerKey(evil.signerKey)]);
  const reproof = (p: string) => formatTlogProof({ ...parseTlogProof(p), checkpoint: note });
  return {
    ...b,
    keys: { log: evil.verifierKey, witnesses: [], quorum: 0 },
    checkpoint: note,
    events: b.events.map((e) => ({ ...e, proof: reproof(e.proof) })),
    erasures: b.erasures.map((e) => ({ ...e, proof: reproof(e.proof) })),
  };
}

/** The bundle's casts rebuilt from the events it keeps (so only the left-out part differs). */
function recast(b: SessionBundle): SessionBundle {
  const casts = buildCasts(
    b.events.map((e) => ({
      meta: parseLeaf(utf8Encode(e.leaf)),
      content: e.payload ? base64Decode(e.payload.content, "content") : null,
    })),
  );
  return { ...b, casts };
}

beforeAll(async () => {
  log = await openTestLog();
  dir = tempDir("tt-operator-bundles-");
  keyFile = write("log.vkey", `# the log key we pinned\n${K}\n`);
  write("token", "unused");
  const base = { host: HOST, server: SERVER, session: DASH_SESSION, pane: "%0" };
  const res = await log.req("/v1/events?wait=checkpoint", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([
      makeSubmission({ ...base, seq: 0, type: "pane-open" }),
      makeSubmission({ ...base, seq: 1, content: `hello${EVIL.slice(0, 9)}` }),
      makeSubmission({ ...base, seq: 2, content: `${EVIL.slice(9)}\u001b[6n world\r\n` }),
      makeSubmission({ ...base, seq: 3, content: "\u001bP+q544e\u001b\\tail\r\n" }),
      makeSubmission({ ...base, session: "$1", seq: 0, pane: "%9", type: "pane-open" }),
    ]),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  answer = async (path) => {
    const r = await log.req(path);
    return { status: r.status, body: await r.text() };
  };
  server = createServer(async (req, res) => {
    const a = await answer(req.url ?? "/");
    res.writeHead(a.status, { "Content-Type": "application/json" });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The route's default format (v2: a tlog-proof per event, which these attacks rewrite).
  bundle = parseSessionBundle(
    await (await log.req(`/v1/sessions/${DASH_ID}/export`)).json(),
  ) as SessionBundle;
  bundleFile = write("bundle.json", bundle);
}, 120_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await log?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const export_ = (id: string, out: string, ...more: string[]) =>
  runCli(["export", id, "--log", url, "--token-file", join(dir, "token"), "--out", out, ...more]);

describe("6. without a key the user gave, nothing is verified", () => {
  it("a bundle signed by the operator's own key, with that key inside it, is not verified and exits 1", async () => {
    const forged = write("forged.json", resigned(bundle, 99));
    const r = await runCli(["verify-bundle", forged]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain("checked only against the bundle's own key");
    expect(r.out).not.toContain("bundle verified");
    const json = JSON.parse((await runCli(["verify-bundle", forged, "--json"])).out);
    expect(json).toMatchObject({
      ok: false,
      consistent: true,
      trusted: { source: { log: "bundle" } },
    });
    // The same forgery against the key we pinned: the checkpoint's signature fails.
    const pinned = await runCli(["verify-bundle", forged, "--log-key-file", keyFile]);
    expect(pinned.code).toBe(1);
    expect(pinned.out).toMatch(/FAILED: checkpoint: /);
  });

  it("replay refuses it (exit 1), and with --no-verify plays it marked NOT VERIFIED, still exit 1", async () => {
    const forged = write("forged-replay.json", resigned(bundle, 98));
    const r = await runCli(["replay", forged, "--speed", "1000"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("not replaying a session that is not verified");
    expect(r.err).not.toMatch(/^verified/m);
    expect(r.out).toBe("");
    const anyway = await runCli(["replay", forged, "--speed", "1000", "--no-verify"]);
    expect(anyway.code).toBe(1);
    expect(anyway.err).toMatch(/^NOT VERIFIED: /m);
  });

  it("the real bundle verifies with a pinned key file (or --log-key), and replays", async () => {
    const r = await runCli(["verify-bundle", bundleFile, "--log-key-file", keyFile]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("trusted log key (given)");
    expect(r.out).toContain("bundle verified");
    const played = await runCli(["replay", bundleFile, "--log-key", K, "--speed", "1000"]);
    expect(played.code, played.err).toBe(0);
    expect(played.err).toMatch(/^verified: /);
  });
});

describe("7. the header is the one the signed events name", () => {
  it("a header naming another user fails, naming the event and both users", async () => {
    const f = write("root.json", { ...bundle, session: { ...bundle.session, user: "root" } });
    const r = await runCli(["verify-bundle", f, "--log-key", K]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAILED: event #\d+: names user alice, the bundle's header says root/);
  });

  it("a header whose id is another session's fails", async () => {
    const f = write("id.json", { ...bundle, session: { ...bundle.session, id: OTHER_ID } });
    const r = await runCli(["verify-bundle", f, "--log-key", K]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAILED: header: session id ${OTHER_ID} is not the id of its host`);
  });

  it("a log that answers the export of one session with another's is refused by export and replay", async () => {
    const other = await (await log.req(`/v1/sessions/${OTHER_ID}/export`)).text();
    const saved = answer;
    answer = async () => ({ status: 200, body: other });
    try {
      const e = await export_(DASH_ID, join(dir, "swapped.json"), "--log-key", K);
      expect(e.code).toBe(1);
      expect(e.err).toContain(`not the session ${DASH_ID} asked for`);
      const r = await runCli(["replay", DASH_ID, "--log", url, "--log-key", K]);
      expect(r.code).toBe(1);
      expect(r.out).toBe("");
    } finally {
      answer = saved;
    }
  });
});

describe("8. session ids may begin with -", () => {
  it("export and replay take -C4fZ… as the id, not as a flag", async () => {
    expect(DASH_ID.startsWith("-")).toBe(true);
    const out = join(dir, "dash.json");
    const e = await export_(DASH_ID, out, "--log-key", K, "--json");
    expect(e.code, e.err).toBe(0);
    expect(JSON.parse(e.out)).toMatchObject({ ok: true, verified: true, session: DASH_ID });
    const r = await runCli(["replay", DASH_ID, "--log", url, "--log-key", K, "--speed", "1000"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("hello");
  });

  it("an id that begins with -- too, and never a flag's value", () => {
    const opts = { out: { type: "string" as const }, json: { type: "boolean" as const } };
    const id = "--AAAAAAAAAAAAAAAAAAAA";
    expect(idsAsPositionals([id, "--out", "-", "--json"], opts)).toEqual([
      "--out",
      "-",
      "--json",
      "--",
      id,
    ]);
    expect(idsAsPositionals(["--out", DASH_ID], opts)).toEqual(["--out", DASH_ID]);
  });
});

describe("9. empty, open and cut-short bundles", () => {
  it("a bundle with no events is said to prove nothing, and fails", async () => {
    const { last: _, ...v1 } = bundle;
    const f = write("empty.json", {
      ...v1,
      format: BUNDLE_FORMAT_V1,
      events: [],
      erasures: [],
      casts: {},
    });
    const r = await runCli(["verify-bundle", f, "--log-key", K]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("events: none (this bundle proves nothing about the session)");
    expect(r.out).toContain("FAILED: the bundle holds no events: it proves nothing");
  });

  it("a v2 bundle whose casts are taken out fails, also where no recording is wanted (--json)", async () => {
    // verify-bundle --json regenerates no recording for itself; a v1/v2 bundle's casts are still
    // owed, so one with them taken out (a player would play nothing, or what it likes) fails.
    const f = write("no-casts.json", { ...bundle, casts: {} });
    for (const json of [[], ["--json"]]) {
      const r = await runCli(["verify-bundle", f, "--log-key", K, ...json]);
      expect(r.code, r.out).toBe(1);
      expect(r.out + r.err).toContain("cast of pane %0 is missing");
    }
  });

  it("a bundle whose streams are all open says so; --require-closed makes it a failure", async () => {
    const r = await runCli(["verify-bundle", bundleFile, "--log-key", K]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("every stream is open");
    const strict = await runCli(["verify-bundle", bundleFile, "--log-key", K, "--require-closed"]);
    expect(strict.code).toBe(1);
    expect(strict.out).toContain("FAILED: stream %0: open (no pane-close in this bundle)");
  });

  it("an export that leaves out the session's last events contradicts its own `last`", async () => {
    expect(bundle.last).toBe(bundle.events.at(-1)!.index);
    const cut = recast({ ...bundle, events: bundle.events.slice(0, -1) });
    const r = await runCli(["verify-bundle", write("cut.json", cut), "--log-key", K]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /FAILED: last: the exporter knows of event #\d+ of this session, but the bundle ends at #\d+ \(events left out\)/,
    );
  });

  it("a v1 bundle (no `last`) still verifies, and is said not to name its last index", async () => {
    const { last: _, ...v1 } = bundle;
    const f = write("v1.json", { ...v1, format: BUNDLE_FORMAT_V1 });
    const r = await runCli(["verify-bundle", f, "--log-key", K]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("does not say the session's last index");
  });
});

describe("10. no control sequence from the log reaches the auditor's terminal", () => {
  it("replay drops clipboard, title, query and DCS sequences, even split across events; --raw keeps them", async () => {
    const r = await runCli(["replay", bundleFile, "--log-key", K, "--speed", "1000"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("hello");
    expect(r.out).toContain(" world");
    expect(r.out).toContain("tail");
    for (const gone of ["\u001b", "\u0007", "pwned", "cm0g", "544e"]) {
      expect(r.out).not.toContain(gone);
    }
    const raw = await runCli(["replay", bundleFile, "--log-key", K, "--speed", "1000", "--raw"]);
    expect(raw.out).toContain("\u001b]52;c;cm0gLXJmIH4=\u0007");
    expect(raw.out).toContain("\u001b[6n");
  });

  it("the filter keeps what draws: colours, cursor moves, the alternate screen; not reports or mouse modes", () => {
    expect(terminalSafe("\u001b[1;31mred\u001b[0m\u001b[2J\u001b[?1049h\u001b[H")).toBe(
      "\u001b[1;31mred\u001b[0m\u001b[2J\u001b[?1049h\u001b[H",
    );
    expect(
      terminalSafe(
        "a\u001b[?1000h\u001b[>c\u001b[c\u001b[18t\u001b[?2026$p\u009b6n\u009d0;x\u009cb",
      ),
    ).toBe("ab");
    expect(terminalSafe("\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\")).toBe("link");
  });

  it("verify-bundle, export and replay headers print a hostile header escaped", async () => {
    const host = "web-1\u009b2J\u202e";
    const f = write("ctl.json", { ...bundle, session: { ...bundle.session, host } });
    const verified = await runCli(["verify-bundle", f, "--log-key", K]);
    const played = await runCli(["replay", f, "--log-key", K, "--no-verify", "--speed", "1000"]);
    for (const text of [verified.out, played.err]) {
      expect(text).not.toMatch(RAW_CONTROL);
      expect(text).not.toContain("\u202e");
      expect(text).toContain("web-1\\x9b2J\\u202e");
    }
  });
});
