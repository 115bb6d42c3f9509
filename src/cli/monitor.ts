// `tmuxtrail monitor`: watches one log for rollbacks and forks from its public tiles. The state
// file holds the last checkpoint this monitor verified (the full signed note). Each round:
//
//   1. fetch the latest checkpoint and open it with the log key and the witness quorum;
//   2. no state yet: save it (first run);
//   3. smaller size than the state: rollback alarm; same size, other root: fork alarm;
//   4. larger: rebuild the consistency proof from the hash tiles at the new size and check it
//      against both signed roots; a failure is a fork alarm naming the sizes and the tile;
//   5. only a verified, consistent checkpoint replaces the state (temp file, fsync, rename).
//
// An alarm is printed, POSTed as JSON to --alert-url, leaves the state as it was, and exits 1,
// so the saved note and the new one remain as evidence. Without --interval one round runs (for
// cron): 0 ok, 1 alarm, 2 unreachable or usage. With --interval rounds repeat; an unreachable
// log is logged and retried, an alarm exits 1, SIGINT/SIGTERM end the loop with 0.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { LogSource } from "../client/log-source.ts";
import { TileTree, verifyConsistencyFromTiles } from "../client/verified-reader.ts";
import type { OpenedCheckpoint } from "../log/checkpoint.ts";
import { base64Encode, bytesEqual } from "../log/encoding.ts";
import { isTrailError } from "../log/errors.ts";
import { printable } from "../log/printable.ts";
import { quorumWarning } from "../log/quorum.ts";
import { parseDuration } from "../server/config.ts";
import {
  type Command,
  EXIT_OK,
  EXIT_VERIFY_FAILED,
  parseFlags,
  sleep,
  UsageError,
} from "./command.ts";
import {
  classify,
  openSource,
  openWithPolicy,
  type Policy,
  policyFlags,
  readPolicy,
} from "./verify.ts";

type AlarmKind = "rollback" | "fork" | "bad-checkpoint" | "origin";

type Round =
  | { status: "saved" | "unchanged"; cp: OpenedCheckpoint }
  | { status: "advanced"; cp: OpenedCheckpoint; from: number }
  | {
      status: "alarm";
      kind: AlarmKind;
      message: string;
      old?: string;
      note?: string;
      cp?: OpenedCheckpoint;
    };

/** Verification failures (exit 1) become alarms; malformed answers stay errors (exit 2). */
function isVerificationFailure(e: unknown): boolean {
  return isTrailError(e) && e.code !== "malformed" && e.code !== "bad-key";
}

function readState(file: string, p: Policy): { note: string; cp: OpenedCheckpoint } | undefined {
  let note: string;
  try {
    note = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`cannot read --state ${file}: ${(e as Error).message}`);
  }
  try {
    // The quorum held when it was saved; witnesses' keys may rotate since.
    return { note, cp: openWithPolicy(note, p, 0) };
  } catch (e) {
    throw new UsageError(
      `--state ${file} does not hold a checkpoint of this log: ${(e as Error).message}`,
    );
  }
}

/** Replaces `file` with `text` so that a crash leaves either the old or the new note. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), "r");
  try {
    fsyncSync(dir);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    closeSync(dir);
  }
}

async function round(source: LogSource, p: Policy, stateFile: string): Promise<Round> {
  const state = readState(stateFile, p);
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
    writeAtomic(stateFile, note);
    return { status: "saved", cp };
  }
  const old = state.cp.checkpoint;
  const now = cp.checkpoint;
  const alarm = (kind: AlarmKind, message: string): Round => ({
    status: "alarm",
    kind,
    message,
    old: state.note,
    note,
    cp,
  });
  if (now.origin !== old.origin)
    return alarm(
      "origin",
      `the log's origin is now ${printable(now.origin)}, the saved checkpoint's is ${printable(old.origin)}`,
    );
  if (now.size < old.size)
    return alarm(
      "rollback",
      `the log's checkpoint has size ${now.size}, smaller than the saved size ${old.size}`,
    );
  if (now.size === old.size) {
    if (bytesEqual(now.root, old.root)) return { status: "unchanged", cp };
    return alarm(
      "fork",
      `two checkpoints of size ${now.size} with different roots (saved ${base64Encode(old.root)}, now ${base64Encode(now.root)})`,
    );
  }
  try {
    await verifyConsistencyFromTiles(new TileTree(source), old, now);
  } catch (e) {
    if (!isVerificationFailure(e)) throw e;
    return alarm("fork", (e as Error).message);
  }
  writeAtomic(stateFile, note);
  return { status: "advanced", cp, from: old.size };
}

async function postAlert(url: string, where: string, r: Extract<Round, { status: "alarm" }>) {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        event: r.kind,
        origin: r.cp?.checkpoint.origin,
        log: where,
        detail: r.message,
        saved: r.old,
        served: r.note,
        detected: new Date().toISOString(),
      }),
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    if (!res.ok) console.error(`monitor: alert webhook ${url}: HTTP ${res.status}`);
  } catch (e) {
    console.error(`monitor: alert webhook ${url}: ${(e as Error).message}`);
  }
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
  summary: "watch a log for rollbacks and forks, keeping the last verified checkpoint",
  help: `Usage: tmuxtrail monitor --log URL|DIR --log-key VKEY --state FILE [--interval D]
                         [--alert-url URL] [--witness-key VKEY ... --quorum K] [--json]

Keeps the last checkpoint it verified (the signed note) in FILE. Each round it fetches the log's
checkpoint and opens it with the log key and the witness quorum. The first run saves it. A
smaller size than the saved one is a rollback alarm; the same size with another root, or a larger
tree whose consistency proof (rebuilt from the hash tiles, never from the proof API) does not
hold, is a fork alarm naming the sizes and the tile. An alarm is printed, POSTed as JSON
({event, origin, log, detail, saved, served, detected}) to --alert-url, and leaves FILE as it
was, so both notes remain as evidence. FILE is replaced atomically (temp file, fsync, rename).

Flags:
  --log URL|DIR        the log, or a directory of its tiles
  --log-key VKEY       the log's verifier key, repeatable
  --state FILE         the last verified checkpoint (created on the first run)
  --interval D         repeat every D (e.g. 30s, 5m) until SIGINT/SIGTERM; without it, one round
  --alert-url URL      POST a JSON alert here on an alarm
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
--interval: stopped by a signal); 1 an alarm; 2 usage error, or (one round) an unreachable log or
malformed answer. With --interval, unreachable rounds are logged and retried.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ...policyFlags,
      state: { type: "string" },
      interval: { type: "string" },
      "alert-url": { type: "string" },
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

    const once = async (): Promise<number> => {
      const r = await round(source, policy, stateFile);
      report(r, json);
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
