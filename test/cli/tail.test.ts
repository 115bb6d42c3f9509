// `tmuxtrail tail`: a verified JSON-lines feed, resumable, following new checkpoints, and stopping
// with exit 1 at the first event a lying log altered.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/agent.ts";
import { openTestDb, type TestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { lyingProxy } from "../support/lying-proxy.ts";
import { type Proc, run } from "../support/proc.ts";
import { postEvents, serve, tempDir } from "../support/serve.ts";

let db: TestDb | undefined;
const procs: Proc[] = [];
beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await openTestDb();
});
afterAll(() => db?.close());
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.child.kill("SIGKILL");
    await p.exited;
  }
});

interface Line {
  index: number;
  leafHash: string;
  checkpoint: number;
  event?: { type: string; seq: number; host: string };
  content?: string;
  erased: boolean;
}

const lines = (out: string) =>
  out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

describe("tail", () => {
  it("streams verified events, resumes, follows, and stops at an altered one", {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir("tt-tail-");
    const s = await serve({ data: join(dir, "log"), schema: db?.schema });
    procs.push(s.proc);
    const vkey = s.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, ADMIN);
    expect((await postEvents(s.url, makeBatch(5))).status).toBe(200);
    const base = ["tail", "--log", s.url, "--token-file", tokenFile, "--log-key", vkey, "--json"];
    const once = async (args: string[]) => {
      const p = run([...base, ...args]);
      procs.push(p);
      return { code: await p.exited, out: p.stdout(), err: p.stderr() };
    };
    const all = await until(
      async () => {
        const r = await once([]);
        return r.code === 0 && lines(r.out).length >= 5 ? lines(r.out) : undefined;
      },
      20_000,
      "a checkpoint covering the events",
    );
    expect(all.slice(0, 5).map((l) => [l.index, l.event?.seq, l.content])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [i, i, `line ${i}\r\n`]),
    );
    // Resume from an index.
    const resumed = await once(["--from", "3"]);
    expect(resumed.code).toBe(0);
    expect(lines(resumed.out)[0]!.index).toBe(3);

    // Follow: new events arrive in the feed once a checkpoint covers them.
    const follow = run([...base, "--from", "5", "--follow", "--interval", "200ms"]);
    procs.push(follow);
    expect((await postEvents(s.url, makeBatch(2, 5))).status).toBe(200);
    const followed = await until(
      async () => {
        const ls = lines(follow.stdout()).filter((l) => l.event?.host === "web-1");
        return ls.length >= 2 ? ls : undefined;
      },
      20_000,
      "the followed events",
    );
    expect(followed.map((l) => l.event?.seq)).toEqual([5, 6]);
    follow.child.kill("SIGTERM");
    expect(await follow.exited).toBe(0);

    // A log that alters one entry's content: the feed stops there with exit 1, naming it.
    const proxy = await lyingProxy(s.url, (path, answer) => {
      if (!path.startsWith("/v1/entries?")) return undefined;
      const entries = JSON.parse(Buffer.from(answer.body).toString()) as {
        index: number;
        payload: { content: string } | null;
      }[];
      const e = entries.find((x) => x.index === 2);
      if (e?.payload) e.payload.content = Buffer.from("line 2 (edited)\r\n").toString("base64");
      return { status: answer.status, body: Buffer.from(JSON.stringify(entries)) };
    });
    try {
      const p = run(["tail", "--log", proxy.url, "--token-file", tokenFile, "--log-key", vkey]);
      procs.push(p);
      expect(await p.exited).toBe(1);
      expect(p.stdout().trim().split("\n")).toHaveLength(2);
      expect(p.stderr()).toContain("entry 2: content does not match the leaf's commitment");
    } finally {
      await proxy.close();
    }
    expect((await once(["--from", "x"])).code).toBe(2);
  });
});
