// `tmuxtrail monitor`: watches one log for rollbacks and forks from its public tiles. The state
// file holds the last checkpoint this monitor verified (the full signed note). Each round:
//
//   1. fetch the latest checkpoint and open it with the log key and the witness quorum;
//   2. no state yet: save it (first run);
//   3. smaller size than the state: rollback alarm; same size, other root: fork alarm;
//   4. larger: rebuild the consistency proof from the hash tiles at the new size and check it
//      against both signed roots; a failure is a fork alarm naming the sizes and the tile;
//   5. only a verified, consistent checkpoint replaces the state (temp file, fsync, rename);
//   6. a larger checkpoint whose tiles cannot be had (withheld, unreachable, malformed) is
//      "unproven": retried, and an alarm once unproven for --unproven-after (the clock is kept
//      in FILE.unproven, so one round per cron run counts too).
//
// The state file, its atomic write and the checks of 3-4 are checkpoint-state.ts, shared with
// tail and audit --log; the alarm kinds are mirror's too.
//
// An alarm is printed, POSTed as JSON to --alert-url, leaves the state as it was, and exits 1,
// so the saved note and the new one remain as evidence. Without --interval one round runs (for
// cron): 0 ok, 1 alarm, 2 unreachable or usage. With --interval rounds repeat; an unreachable
// log is logged and retried, an alarm exits 1, SIGINT/SIGTERM end the loop with 0.
//
// Longer than most files: the flag table and help text of a command, its round and its loop; the
// round's checks are in client/.

import {
  type AlarmKind,
  checkExtends,
  isVerificationFailure,
  readState,
  UnprovenClock,
  writeState,
} from "../client/checkpoint-state.ts";
import type { LogSource } from "../client/log-source.ts";
import { TileTree } from "../client/verified-reader.ts";
import type { OpenedCheckpoint } from "../core/checkpoint.ts";
import { base64Encode } from "../core/encoding.ts";
import { printable } from "../core/printable.ts";
import { quorumWarning } from "../core/quorum.ts";
import { postWebhook } from "../lib/webhook.ts";
import { parseDuration } from "../server/config.ts";
import {
  type Command,
  EXIT_OK,
  EXIT_USAGE,
  EXIT_VERIFY_FAILED,
  parseFlags,
  sleep,
  UsageError,
} from "./command.ts";
import { classify } from "./exit.ts";
import { openSource, openWithPolicy, type Policy, policyFlags, readPolicy } from "./verify.ts";

/** One round per cron run: a newer checkpoint unproven this long is an alarm. */
const DEFAULT_UNPROVEN_AFTER = 15 * 60_000;

type Round =
  | { status: "saved" | "unchanged"; cp: OpenedCheckpoint }
  | { status: "advanced"; cp: OpenedCheckpoint; from: number }
  | {
      status: "unproven";
      cp: OpenedCheckpoint;
      from: number;
      why: string;
      note: string;
      old: string;
    }
  | {
      status: "alarm";
      kind: AlarmKind;
      message: string;
      old?: string;
      note?: string;
      cp?: OpenedCheckpoint;
    };

async function round(source: LogSource, p: Policy, stateFile: string): Promise<Round> {
  // The quorum held when it was saved; witnesses' keys may rotate since.
  const state = readState(stateFile, (n) => openWithPolicy(n, p, 0));
  const note = await source.checkpoint();
  let cp: OpenedCheckpoint;
  try {
    cp = openWithPolicy(note, p);
  } catch (e) {
    if (!isVerificationFailure(e)) throw e;
    return {
      status: "alarm",
      kind: "bad-checkpoint",
      message: `the log's checkpoint does not verify: ${(e as Error).message}`,
      old: state?.note,
      note,
    };
  }
  if (!state) {
    writeState(stateFile, note);
    return { status: "saved", cp };
  }
  const old = state.cp.checkpoint;
  const now = cp.checkpoint;
  let alarm: Awaited<ReturnType<typeof checkExtends>>;
  try {
    alarm = await checkExtends(new TileTree(source), old, now);
  } catch (e) {
    // Tiles withheld, unreachable or malformed: nothing is proven either way (yet).
    return {
      status: "unproven",
      cp,
      from: old.size,
      why: (e as Error).message,
      note,
      old: state.note,
    };
  }
  if (alarm) return { status: "alarm", ...alarm, old: state.note, note, cp };
  if (now.size === old.size) return { status: "unchanged", cp };
  writeState(stateFile, note);
  return { status: "advanced", cp, from: old.size };
}

function postAlert(url: string, where: string, r: Extract<Round, { status: "alarm" }>) {
  const body = {
    event: r.kind,
    origin: r.cp?.checkpoint.origin,
    log: where,
    detail: r.message,
    saved: r.old,
    served: r.note,
    detected: new Date().toISOString(),
  };
  return postWebhook(url, body, (m) => console.error(`monitor: ${m}`));
}

function report(r: Round, json: boolean): void {
  const cp = r.cp?.checkpoint;
  const base = cp ? { origin: cp.origin, size: cp.size, root: base64Encode(cp.root) } : {};
  if (r.status === "alarm") {
    if (json) {
      console.log(
        JSON.stringify({
          ok: false,
          command: "monitor",
          status: "alarm",
          ...base,
          alarm: { kind: r.kind, message: r.message },
          error: { code: r.kind, message: r.message },
        }),
      );
    } else console.log(`ALARM (${r.kind}): ${r.message}`);
    return;
  }
  if (r.status === "unproven") {
    const message = `a signed checkpoint of size ${cp!.size} is not proven consistent with the saved size ${r.from} yet: ${r.why}`;
    if (json)
      console.log(
        JSON.stringify({
          ok: false,
          command: "monitor",
          status: "unproven",
          ...base,
          from: r.from,
          error: { code: "unproven", message },
        }),
      );
    else console.error(`monitor: ${message}`);
    return;
  }
  const witnesses = r.cp.witnesses.map((w) => w.name);
  if (json) {
    console.log(
      JSON.stringify({
        ok: true,
        command: "monitor",
        status: r.status,
        ...base,
        ...("from" in r ? { from: r.from } : {}),
        witnesses,
      }),
    );
    return;
  }
  const what =
    r.status === "saved"
      ? "first checkpoint saved"
      : "from" in r
        ? `advanced from size ${r.from}, consistent (proof rebuilt from tiles)`
        : "unchanged";
  console.log(`${printable(cp!.origin)} size ${cp!.size} root ${base.root}: ${what}`);
}

export const monitor: Command = {
  name: "monitor",
  help: `Usage: tmuxtrail monitor --log URL|DIR --log-key VKEY --state FILE [--interval D]
                         [--alert-url URL] [--unproven-after D]
                         [--witness-key VKEY ... --quorum K] [--json]

Keeps the last checkpoint it verified (the signed note) in FILE. Each round it fetches the log's
checkpoint and opens it with the log key and the witness quorum. The first run saves it. A
smaller size than the saved one is a rollback alarm; the same size with another root, or a larger
tree whose consistency proof (rebuilt from the hash tiles, never from the proof API) does not
hold, is a fork alarm naming the sizes and the tile. An alarm is printed, POSTed as JSON
({event, origin, log, detail, saved, served, detected}) to --alert-url, and leaves FILE as it
was, so both notes remain as evidence. FILE is replaced atomically (temp file, fsync, rename);
a FILE signed by another key is refused (exit 2).

A larger checkpoint whose tiles the log does not serve (withheld, unreachable, malformed) cannot
be proven either way: the round says so (exit 2 in one round, retried with --interval), and once
such a checkpoint has stayed unproven for --unproven-after it is an alarm (unproven). The time
of the first such round is kept in FILE.unproven, so one round per cron run counts too.

Flags:
  --log URL|DIR        the log, or a directory of its tiles
  --log-key VKEY       the log's verifier key, repeatable
  --state FILE         the last verified checkpoint (created on the first run)
  --interval D         repeat every D (e.g. 30s, 5m) until SIGINT/SIGTERM; without it, one round
  --alert-url URL      POST a JSON alert here on an alarm
  --unproven-after D   alarm when a newer signed checkpoint stays unproven this long (default:
                       3 intervals with --interval, else 15m)
  --witness-key VKEY   a witness's cosignature key, repeatable; --quorum K of them must cosign
                       (default: all)
  --timeout D          per-request timeout (default 10s)
  --json               one JSON object per round: {ok, command, status, origin, size, root, ...}

Examples:
  # from cron, every five minutes:
  tmuxtrail monitor --log https://log.example --log-key "$VKEY" --state /var/lib/tt/log.checkpoint
  # as a service:
  tmuxtrail monitor --log https://log.example --log-key "$VKEY" --state log.checkpoint \\
    --interval 30s --alert-url https://hooks.example/tmuxtrail

Exit codes: 0 the log is consistent (or unchanged, or the first checkpoint was saved; with
--interval: stopped by a signal); 1 an alarm; 2 usage error, or (one round) an unreachable log,
malformed answer or a checkpoint not yet proven. With --interval, unreachable rounds are logged and retried.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ...policyFlags,
      state: { type: "string" },
      interval: { type: "string" },
      "alert-url": { type: "string" },
      "unproven-after": { type: "string" },
    });
    const policy = readPolicy(v);
    const qw = quorumWarning(policy.quorum, policy.witnesses.length);
    if (qw) console.error(`tmuxtrail monitor: warning: ${qw}`);
    const source = openSource(v);
    if (!v.state) throw new UsageError("--state FILE is required");
    const stateFile = v.state;
    let interval: number | undefined;
    if (v.interval !== undefined) {
      try {
        interval = parseDuration(v.interval, "--interval");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (interval <= 0) throw new UsageError("--interval must be positive");
    }
    const alertUrl = v["alert-url"];
    if (alertUrl !== undefined && !/^https?:\/\//i.test(alertUrl))
      throw new UsageError("--alert-url must be an http(s) URL");
    const json = Boolean(v.json);

    let unprovenAfter = interval === undefined ? DEFAULT_UNPROVEN_AFTER : 3 * interval;
    if (v["unproven-after"] !== undefined) {
      try {
        unprovenAfter = parseDuration(v["unproven-after"], "--unproven-after");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    // Kept beside the state, so that one round per cron run still counts from the first one.
    const clock = new UnprovenClock(unprovenAfter, `${stateFile}.unproven`);

    const once = async (): Promise<number> => {
      let r = await round(source, policy, stateFile);
      if (r.status === "unproven") {
        const late = clock.fail(r.from, r.cp.checkpoint.size, r.why);
        if (late) r = { status: "alarm", ...late, old: r.old, note: r.note, cp: r.cp };
      } else if (r.status === "advanced" || r.status === "saved") clock.clear();
      report(r, json);
      if (r.status === "unproven") return interval === undefined ? EXIT_USAGE : EXIT_OK;
      if (r.status !== "alarm") return EXIT_OK;
      if (alertUrl) await postAlert(alertUrl, source.where, r);
      return EXIT_VERIFY_FAILED;
    };

    if (interval === undefined) {
      try {
        return await once();
      } catch (e) {
        if (!json) throw e;
        const { exit, error } = classify(e);
        console.log(JSON.stringify({ ok: false, command: "monitor", error }));
        return exit;
      }
    }

    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      while (!stop.signal.aborted) {
        try {
          const code = await once();
          if (code !== EXIT_OK) return code;
        } catch (e) {
          const { exit, error } = classify(e);
          if (e instanceof UsageError) throw e;
          // Unreachable or malformed answers are retried; nothing here proves a fork.
          console.error(
            `monitor: round failed (retrying in ${v.interval}): ${error.code}: ${error.message}`,
          );
          if (exit === EXIT_VERIFY_FAILED) return exit;
        }
        await sleep(interval, stop.signal);
      }
      return EXIT_OK;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
};
