// The attacker is the log operator: a lying HTTP proxy in front of a real `serve` rewrites the
// acknowledgements the agent gets, shows it a forked checkpoint signed with the log's real key,
// withholds tiles, or shows checkpoints without the witnesses' cosignatures. The agent (real
// tmux, a private -L socket) must refuse what it did not check, keep the events in its spool,
// raise an alarm, and never count an unreachable tile as a failed proof.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatCheckpoint, parseCheckpoint } from "../../src/core/checkpoint.ts";
import { cosign } from "../../src/core/cosignature.ts";
import { generateKey, parseSignerKey } from "../../src/core/keys.ts";
import { signNote, splitNote } from "../../src/core/note.ts";
import { parseSessionBundle } from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { sessionId } from "../../src/core/session-id.ts";
import { agentBed, agentOnTmux, tmux, until } from "../support/agent.ts";
import { makeSubmission } from "../support/events.ts";
import { openTestLog, TEST_KEY } from "../support/log.ts";
import {
  type Exchange,
  type Lie,
  type OperatorProxy,
  operatorProxy,
} from "../support/operator-proxy.ts";
import { run } from "../support/proc.ts";

const started = agentBed();
const proxies: OperatorProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

interface Ack {
  index: number;
  leafHash: string;
  duplicate: boolean;
}

/** A real log, the proxy in front of it (lying as `lie.current` says), tmux and the agent. */
async function setup(agentArgs: string[] = []) {
  const lie: { current: Lie } = { current: () => undefined };
  const t = await agentOnTmux(started, {
    name: "op",
    log: {
      logKey: true,
      agentUrl: async (log) => {
        const proxy = await operatorProxy(log.url, (x) => lie.current(x));
        proxies.push(proxy);
        return proxy.url;
      },
    },
    agentArgs,
  });
  const status = () => JSON.parse(readFileSync(join(t.spool, "status.json"), "utf8"));
  const signer = parseSignerKey(readFileSync(join(t.dir, "log", "log.key"), "utf8").trim());
  return { ...t, s: t.log, lie, status, signer };
}

type Bed = Awaited<ReturnType<typeof setup>>;

const type = (t: Bed, keys: string) => tmux(t.socket, "send-keys", "-t", "work", keys, "Enter");

/** Waits until the agent sent everything and every receipt is proven. */
const settled = (t: Bed, what: string) =>
  until(
    async () => {
      const st = t.status();
      return st.unsentEvents === 0 &&
        st.lastAckedIndex !== null &&
        st.receipts.total > 0 &&
        st.receipts.proven === st.receipts.total
        ? st
        : undefined;
    },
    60_000,
    what,
  );

/** Waits for the agent's stderr to show `re` (it may arrive after the status file says so). */
const logged = (t: Bed, re: RegExp) =>
  until(async () => re.test(t.agent.stderr()), 10_000, `stderr to match ${re}`);

/** Rewrites the acknowledgements of every POST /v1/events answer the real log gave. */
const rewriteAcks =
  (f: (acks: Ack[]) => Ack[]): Lie =>
  (x: Exchange) =>
    x.method === "POST" && x.path.startsWith("/v1/events") && x.status === 200
      ? {
          status: 200,
          body: JSON.stringify(f(JSON.parse(Buffer.from(x.body).toString()) as Ack[])),
        }
      : undefined;

/**
 * The lie is refused: the new events stay in the spool, the status says FAILED with `reason`, an
 * ALARM line is logged; then the proxy tells the truth and the same events are accepted.
 */
async function refusedThenAccepted(t: Bed, reason: RegExp) {
  const st = await until(
    async () => {
      const s = t.status();
      return s.sendFailed && s.unsentEvents > 0 ? s : undefined;
    },
    60_000,
    "the answer to be refused",
  );
  expect(st.sendFailed).toMatch(reason);
  expect(st.connected).toBe(false);
  expect(st.refusedAnswers).toBeGreaterThan(0);
  await logged(t, /^ALARM: the log's answer to \d+ event\(s\) was refused/m);
  const cli = run(["agent", "status", "--spool", t.spool]);
  expect(await cli.exited).toBe(1);
  expect(cli.stdout()).toMatch(/^sending +FAILED: /m);
  t.lie.current = () => undefined;
  const after = await settled(t, "the same events accepted once the log tells the truth");
  expect(after.sendFailed).toBeNull();
  expect(after.receipts.failed).toBe(0);
  expect(after.receipts.alarm).toBeNull();
}

describe("the operator lies in the acknowledgements", () => {
  it("an acknowledgement naming another leaf hash is refused; the events stay in the spool", {
    timeout: 180_000,
  }, async () => {
    const t = await setup();
    await settled(t, "the first events");
    const forged = Buffer.alloc(32, 7).toString("base64");
    t.lie.current = rewriteAcks((acks) =>
      acks.map((a, i) => (i === acks.length - 1 ? { ...a, leafHash: forged } : a)),
    );
    type(t, "echo lie-about-the-hash");
    await refusedThenAccepted(t, /names leaf hash .*but the event sent has leaf hash/);
    expect(readFileSync(join(t.spool, "receipts.jsonl"), "utf8")).not.toContain(forged);
  });

  it("an answer with an acknowledgement missing is refused", { timeout: 180_000 }, async () => {
    const t = await setup();
    await settled(t, "the first events");
    t.lie.current = rewriteAcks((acks) => acks.slice(0, -1));
    type(t, "echo lie-by-omission");
    await refusedThenAccepted(t, /^\d+ acknowledgement\(s\) for \d+ event\(s\) sent$/);
  });

  it("an acknowledgement at the index of a leaf acknowledged before is refused", {
    timeout: 180_000,
  }, async () => {
    const t = await setup();
    const first = await settled(t, "the first events");
    const taken = JSON.parse(
      readFileSync(join(t.spool, "receipts.jsonl"), "utf8").split("\n")[0]!,
    ) as { index: number };
    expect(first.lastAckedIndex).toBeGreaterThanOrEqual(taken.index);
    t.lie.current = rewriteAcks((acks) => [{ ...acks[0]!, index: taken.index }, ...acks.slice(1)]);
    type(t, "echo lie-about-the-index");
    await refusedThenAccepted(
      t,
      new RegExp(`names index ${taken.index}, already acknowledged for another leaf`),
    );
  });
});

describe("the operator shows this host a forked tree", () => {
  it("a checkpoint signed with the log's key at the kept size with another root, then at a larger size: FAILED, nothing proven against it", {
    timeout: 180_000,
  }, async () => {
    const t = await setup();
    const good = await settled(t, "a verified checkpoint");
    const kept = () =>
      parseCheckpoint(splitNote(readFileSync(join(t.spool, "checkpoint"), "utf8")).text);
    expect(kept().size).toBe(good.receipts.checkpoint.size);
    const forge = (size: number) =>
      signNote(
        formatCheckpoint({ origin: kept().origin, size, root: new Uint8Array(32).fill(9) }),
        [t.signer],
      );
    // Forged at the size the agent keeps at each request (the agent may have kept a newer one).
    t.lie.current = (x) =>
      x.path === "/checkpoint" ? { status: 200, body: forge(kept().size) } : undefined;
    type(t, "echo shown-a-split-view");
    const split = await until(
      async () => {
        const s = t.status();
        return s.receipts.alarm ? s : undefined;
      },
      45_000,
      "the split view to be caught",
    );
    const keptSize = kept().size;
    expect(split.receipts.checkpoint.size).toBe(keptSize);
    expect(split.receipts.alarm).toMatch(
      new RegExp(`size ${keptSize} .*two different roots for the same size`),
    );
    await logged(t, /^ALARM: .*two different roots for the same size/m);
    // A larger tree that does not extend the kept one: the real tiles, a forged root.
    const real = await until(
      async () => {
        const cp = parseCheckpoint(
          splitNote(await (await fetch(`${t.s.url}/checkpoint`)).text()).text,
        );
        return cp.size > keptSize ? cp : undefined;
      },
      45_000,
      "the real tree to grow",
    );
    const forgedNote = forge(real.size);
    t.lie.current = (x) =>
      x.path === "/checkpoint" ? { status: 200, body: forgedNote } : undefined;
    const larger = await until(
      async () => {
        const s = t.status();
        return new RegExp(`size ${real.size} is not consistent`).test(s.receipts.alarm)
          ? s
          : undefined;
      },
      45_000,
      "the larger fork to be caught",
    );
    expect(larger.receipts.alarm).toMatch(/does not extend it/);
    expect(larger.receipts.checkpoint.size).toBe(keptSize);
    expect(kept().size).toBe(keptSize);
    expect(larger.receipts.failed).toBe(0);
    expect(larger.receipts.unproven).toBeGreaterThan(0);
    const cli = run(["agent", "status", "--spool", t.spool]);
    expect(await cli.exited).toBe(1);
    expect(cli.stdout()).toMatch(/^ALARM +FAILED: .*not consistent/m);
  });
});

describe("the operator withholds tiles", () => {
  it("tiles answered 503, then never answered: not yet proven (never FAILED), proven once served", {
    timeout: 180_000,
  }, async () => {
    const t = await setup(["--timeout", "1s"]);
    await settled(t, "the first events");
    let mode: "503" | "hang" = "503";
    t.lie.current = (x) =>
      x.path.startsWith("/tile/")
        ? mode === "503"
          ? { status: 503, body: "busy" }
          : "hang"
        : undefined;
    type(t, "echo tiles-withheld");
    const waiting = (re: RegExp) =>
      until(
        async () => {
          const s = t.status();
          return s.receipts.unproven > 0 && re.test(s.receipts.waiting ?? "") ? s : undefined;
        },
        45_000,
        `receipts waiting on ${re}`,
      );
    let s = await waiting(/^not yet proven: .*HTTP 503/);
    expect(s.receipts).toMatchObject({ failed: 0, alarm: null });
    mode = "hang";
    s = await waiting(/^not yet proven: .*timed out after 1000 ms/);
    expect(s.receipts).toMatchObject({ failed: 0, alarm: null });
    t.lie.current = () => undefined;
    s = await settled(t, "the receipts proven once the tiles are served");
    expect(s.receipts).toMatchObject({ failed: 0, alarm: null, waiting: null });
    expect(t.agent.stderr()).not.toMatch(/ALARM/);
  });
});

describe("the operator shows checkpoints the witnesses did not cosign", () => {
  it("with --witness-quorum 2 of 2, a checkpoint with no cosignature, or one known and one unknown, proves nothing; with both it does", {
    timeout: 180_000,
  }, async () => {
    const [w1, w2, w3] = [1, 2, 3].map((i) =>
      generateKey(`w${i}.example`, new Uint8Array(32).fill(40 + i)),
    );
    const t = await setup([
      "--witness",
      w1!.cosignatureVerifierKey,
      "--witness",
      w2!.verifierKey, // the 0x01 form is accepted too
      "--witness-quorum",
      "2",
    ]);
    let cosigners: (typeof w1)[] = [];
    t.lie.current = (x) => {
      if (x.path !== "/checkpoint" || x.status !== 200) return undefined;
      const note = Buffer.from(x.body).toString();
      const { text } = splitNote(note);
      const time = Math.floor(Date.now() / 1000);
      return {
        status: 200,
        body:
          note + cosigners.map((w) => cosign(text, parseSignerKey(w!.signerKey), time)).join(""),
      };
    };
    type(t, "echo witnessed");
    const waiting = (re: RegExp) =>
      until(
        async () => {
          const s = t.status();
          return s.unsentEvents === 0 && s.receipts.total > 0 && re.test(s.receipts.waiting ?? "")
            ? s
            : undefined;
        },
        45_000,
        `receipts waiting on ${re}`,
      );
    let s = await waiting(/0 valid witness cosignature\(s\), the quorum is 2/);
    expect(s.receipts).toMatchObject({ proven: 0, failed: 0, alarm: null, checkpoint: null });
    expect(s.witnessQuorum).toEqual({ k: 2, n: 2 });
    cosigners = [w1, w3];
    s = await waiting(/1 valid witness cosignature\(s\), the quorum is 2/);
    expect(s.receipts).toMatchObject({ proven: 0, failed: 0, checkpoint: null });
    cosigners = [w1, w2];
    s = await settled(t, "the receipts proven against a cosigned checkpoint");
    expect(s.receipts.checkpoint.cosignatures).toBe(2);
    expect(s.receipts).toMatchObject({ failed: 0, alarm: null });
  });
});

describe("the operator's bundles cannot lower the witness policy a verifier gives", () => {
  it("a bundle that names no witnesses, or its own, changes nothing of the given keys and quorum", async () => {
    const log = await openTestLog();
    try {
      const base = { host: "h-1", server: "default@1764050000", session: "$1", pane: "%0" };
      const res = await log.req("/v1/events?wait=checkpoint", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify([
          makeSubmission({ ...base, seq: 0, type: "pane-open", time: "2026-11-24T19:00:00.000Z" }),
          makeSubmission({ ...base, seq: 1, time: "2026-11-24T19:00:01.000Z", content: "x\r\n" }),
        ]),
      });
      expect(res.status).toBe(200);
      const id = sessionId(base.host, base.server, base.session);
      const bundle = parseSessionBundle(await (await log.req(`/v1/sessions/${id}/export`)).json());
      const [w, fake] = [1, 2].map((i) =>
        generateKey(`w${i}.example`, new Uint8Array(32).fill(60 + i)),
      );
      // The log cut its witnesses out of the bundle's hints: a verifier that requires one still does.
      const dropped = { ...bundle, keys: { ...bundle.keys, witnesses: [], quorum: 0 } };
      const strict = verifySessionBundle(dropped, {
        logKeys: [TEST_KEY.verifierKey],
        witnessKeys: [w!.verifierKey],
        quorum: 1,
      });
      expect(strict.ok).toBe(false);
      expect(strict.trusted).toMatchObject({ quorum: 1, source: { witnesses: "given" } });
      expect(strict.failures[0]!.message).toMatch(/^checkpoint: /);
      // The log names a witness of its own: a verifier whose policy is "no witnesses" (the web UI's
      // pinned policy, given whole) does not take it up.
      const own = {
        ...bundle,
        keys: { ...bundle.keys, witnesses: [fake!.verifierKey], quorum: 1 },
      };
      const none = verifySessionBundle(own, {
        logKeys: [TEST_KEY.verifierKey],
        witnessKeys: [],
        quorum: 0,
      });
      expect(none.trusted).toMatchObject({
        witnesses: [],
        quorum: 0,
        source: { witnesses: "given" },
      });
      expect(none.ok).toBe(true);
    } finally {
      await log.close();
    }
  });
});
