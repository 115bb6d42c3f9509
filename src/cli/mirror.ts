// `tmuxtrail mirror`: copies a log's C2SP tlog-tiles files (checkpoint, hash tiles, optionally
// entry bundles) into a directory any static web server, object store or CDN can serve, verifying
// everything before it is written (src/client/mirror.ts has the round). One round without
// --watch: 0 mirrored (or unchanged), 1 verification failed (a fork, a rollback, a tile that does
// not hash to the signed root), 2 usage error or unreachable log. With --watch rounds repeat every
// --interval; unreachable rounds and a missing witness quorum are logged and retried, an alarm or
// a failed verification exits 1, SIGINT/SIGTERM end the loop with 0.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { UnprovenClock } from "../client/checkpoint-state.ts";
import { type MirrorRound, mirrorRound } from "../client/mirror.ts";
import { lockMirror, readMirrorCheckpoint } from "../client/mirror-files.ts";
import { base64Encode } from "../core/encoding.ts";
import { isTrailError } from "../core/errors.ts";
import { printable } from "../core/printable.ts";
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
import { readToken } from "./log-api.ts";
import { openSource, openWithPolicy, policyFlags, readPolicy } from "./verify.ts";

/** One round per cron run: a newer checkpoint unproven this long is an alarm. */
const DEFAULT_UNPROVEN_AFTER = 15 * 60_000;

function report(r: MirrorRound, json: boolean, dir: string): void {
  const cp = r.cp?.checkpoint;
  const base = cp ? { origin: cp.origin, size: cp.size, root: base64Encode(cp.root) } : {};
  if (r.status === "unproven") {
    const message = `a signed checkpoint of size ${cp!.size} is not proven consistent with the mirror's size ${r.from} yet: ${r.why}`;
    if (json)
      console.log(
        JSON.stringify({
          ok: false,
          command: "mirror",
          status: "unproven",
          ...base,
          from: r.from,
          out: dir,
          error: { code: "unproven", message },
        }),
      );
    else console.error(`mirror: ${message}; the mirror in ${dir} is unchanged`);
    return;
  }
  if (r.status === "alarm") {
    if (json)
      console.log(
        JSON.stringify({
          ok: false,
          command: "mirror",
          status: "alarm",
          ...base,
          out: dir,
          alarm: { kind: r.kind, message: r.message },
          error: { code: r.kind, message: r.message },
        }),
      );
    else console.log(`ALARM (${r.kind}): ${r.message}; the mirror in ${dir} is unchanged`);
    return;
  }
  if (json) {
    console.log(
      JSON.stringify({
        ok: true,
        command: "mirror",
        status: r.status,
        ...base,
        ...(r.from === undefined ? {} : { from: r.from }),
        out: dir,
        tilesWritten: r.tilesWritten,
        bundlesWritten: r.bundlesWritten,
        partialsRemoved: r.partialsRemoved,
        witnesses: r.cp.witnesses.map((w) => w.name),
      }),
    );
    return;
  }
  const what = {
    initial: "first mirror",
    advanced: `advanced from size ${r.from}, consistent (proof rebuilt from tiles)`,
    unchanged: "unchanged",
    updated: "same tree, checkpoint replaced (new cosignatures)",
  }[r.status];
  const files =
    r.tilesWritten || r.bundlesWritten || r.partialsRemoved
      ? `; ${r.tilesWritten} tiles, ${r.bundlesWritten} entry bundles written, ${r.partialsRemoved} superseded partials removed`
      : "";
  console.log(
    `${printable(cp!.origin)} size ${cp!.size} root ${base.root} -> ${dir}: ${what}${files}`,
  );
}

export const mirror: Command = {
  name: "mirror",
  help: `Usage: tmuxtrail mirror --log URL|DIR --log-key VKEY --out DIR [--watch [--interval D]]
                        [--entries [--token-file FILE]] [--witness-key VKEY ... --quorum K]
                        [--keep-partials] [--unproven-after D] [--timeout D] [--json]

Writes the log's C2SP tlog-tiles files into DIR, so that any web server, object store or CDN
serves every read (verify, monitor, witnesses, tail's proofs) away from the log's database:

  DIR/checkpoint                  the signed checkpoint, with its cosignatures, as the log served it
  DIR/tile/<L>/<N>                every full hash tile (immutable: never fetched or written again)
  DIR/tile/<L>/<N>.p/<W>          the partial tiles the checkpoint needs
  DIR/tile/entries/<N>[.p/<W>]    with --entries, the entry bundles (the log's read scope)

Nothing is written before it is verified: the checkpoint with the log key (and the witness
quorum); the tiles against its root; when DIR already holds a checkpoint, the new tree against
it by a consistency proof rebuilt from the tiles; each new full tile against its parent tile;
each entry against its hash tile. A smaller tree than DIR's (a rollback), the same size with
another root, or an inconsistent tree (a fork) is an alarm: printed, exit 1, DIR unchanged.
A larger signed checkpoint whose tiles the log does not serve (withheld, unreachable, malformed)
is not proven either way: DIR is unchanged, the round says so (exit 2 in one round, retried with
--watch), and once it has stayed unproven for --unproven-after it is an alarm (unproven, exit 1).
Every file is written to a temporary name and renamed; the checkpoint is written last, after
every tile it needs is in place (and fsynced), so a reader of DIR never sees a checkpoint whose
tiles are missing. Each round writes only the new full tiles and the current partial ones; a
partial tile whose full tile now exists is deleted (tlog-tiles clients fall back to the full tile
and truncate it), unless --keep-partials. Temporary files and the lock (.mirror.lock, against a
second mirror process on DIR) begin with ".": no reader needs them.

Flags:
  --log URL|DIR        the log to copy (a running log, another mirror, or a directory)
  --log-key VKEY       the log's verifier key, repeatable (any one must sign)
  --out DIR            the mirror directory (created if missing)
  --watch              keep mirroring every --interval until SIGINT/SIGTERM
  --interval D         time between rounds with --watch (default 10s)
  --entries            also copy the entry bundles (needs a read token: --token-file, or
                       TMUXTRAIL_TOKEN). They hold the leaves, not the session content, but the
                       log serves them only to readers: serve DIR/tile/entries to them alone.
  --token-file FILE    the read token for --entries
  --witness-key VKEY   a witness's cosignature key, repeatable; --quorum K of them must have
                       cosigned a checkpoint before it is mirrored (default: all)
  --keep-partials      keep superseded partial tiles and bundles
  --unproven-after D   alarm when a newer signed checkpoint stays unproven this long (default:
                       3 intervals with --watch, else 15m; the first such round is kept in
                       DIR/.unproven)
  --timeout D          per-request timeout (default 10s)
  --json               one JSON object per round: {ok, command, status, origin, size, root, from,
                       tilesWritten, bundlesWritten, partialsRemoved, ...}

Examples:
  tmuxtrail mirror --log http://log.internal:8080 --log-key "$VKEY" --out /srv/tlog --watch
  # serve it with any static file server, e.g.:
  python3 -m http.server --directory /srv/tlog 8090
  # or nginx: location / { root /srv/tlog; }  (cache tile/ for a year, checkpoint for seconds)
  # and read the log from there:
  tmuxtrail verify checkpoint --log http://mirror.example:8090 --log-key "$VKEY"
  tmuxtrail witness --key w.key --log "$ORIGIN=$VKEY@http://mirror.example:8090"
  # from cron instead of --watch (exit 1 is an alarm):
  */5 * * * * tmuxtrail mirror --log https://log.example --log-key "$VKEY" --out /srv/tlog

Exit codes: 0 mirrored, or unchanged (with --watch: stopped by a signal); 1 verification failed
(an alarm: fork, rollback, a checkpoint unproven past --unproven-after, or a tile that does not
hash to the signed root; a missing witness quorum in one round); 2 usage error, unreachable log,
malformed answer or (one round) a checkpoint not yet proven. With --watch,
unreachable rounds and a missing quorum are logged and retried.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ...policyFlags,
      out: { type: "string" },
      watch: { type: "boolean" },
      interval: { type: "string" },
      entries: { type: "boolean" },
      "token-file": { type: "string" },
      "keep-partials": { type: "boolean" },
      "unproven-after": { type: "string" },
    });
    const policy = readPolicy(v);
    if (!v.out) throw new UsageError("--out DIR is required");
    const dir = v.out;
    if (v.interval !== undefined && !v.watch)
      throw new UsageError("--interval needs --watch (without it one round runs)");
    if (v["token-file"] !== undefined && !v.entries)
      throw new UsageError("--token-file is for --entries");
    let interval = 10_000;
    if (v.interval !== undefined) {
      try {
        interval = parseDuration(v.interval, "--interval");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (interval <= 0) throw new UsageError("--interval must be positive");
    }
    let unprovenAfter = v.watch ? 3 * interval : DEFAULT_UNPROVEN_AFTER;
    if (v["unproven-after"] !== undefined) {
      try {
        unprovenAfter = parseDuration(v["unproven-after"], "--unproven-after");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const token = v.entries ? readToken(v["token-file"]) : undefined;
    const upstream = openSource(v, token);
    const json = Boolean(v.json);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UsageError(`cannot create --out ${dir}: ${(e as Error).message}`);
    }
    let unlock: () => void;
    try {
      // A DIR holding another log's checkpoint is a mistake to stop at, not to retry.
      readMirrorCheckpoint(dir, (note, quorum) => openWithPolicy(note, policy, quorum));
      unlock = lockMirror(dir);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }

    // In DIR, so that one round per cron run still counts from the first one.
    const clock = new UnprovenClock(unprovenAfter, join(dir, ".unproven"));
    const stop = new AbortController();
    const once = async (): Promise<number> => {
      let r = await mirrorRound({
        upstream,
        dir,
        open: (note, quorum, origin) => openWithPolicy(note, policy, quorum, origin),
        entries: Boolean(v.entries),
        keepPartials: Boolean(v["keep-partials"]),
        signal: stop.signal,
      });
      if (r.status === "unproven") {
        const late = clock.fail(r.from, r.cp.checkpoint.size, r.why);
        if (late) r = { status: "alarm", ...late, cp: r.cp };
      } else if (r.status === "advanced" || r.status === "initial") clock.clear();
      report(r, json, dir);
      if (r.status === "unproven") return v.watch ? EXIT_OK : EXIT_USAGE;
      return r.status === "alarm" ? EXIT_VERIFY_FAILED : EXIT_OK;
    };
    const fail = (e: unknown): number => {
      const { exit, error } = classify(e);
      if (json) console.log(JSON.stringify({ ok: false, command: "mirror", out: dir, error }));
      else console.error(`tmuxtrail mirror: ${error.code}: ${error.message}`);
      return exit;
    };

    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      if (!v.watch) {
        try {
          return await once();
        } catch (e) {
          return fail(e);
        }
      }
      while (!stop.signal.aborted) {
        try {
          const code = await once();
          if (code !== EXIT_OK) return code;
        } catch (e) {
          if (stop.signal.aborted) break;
          if (isTrailError(e, "quorum")) {
            console.error(
              `mirror: not mirrored yet (retrying in ${v.interval ?? "10s"}): ${e.message}`,
            );
          } else {
            const { exit, error } = classify(e);
            if (exit === EXIT_VERIFY_FAILED) return fail(e);
            // Unreachable or malformed answers are retried; nothing here proves a fork.
            console.error(
              `mirror: round failed (retrying in ${v.interval ?? "10s"}): ${error.code}: ${error.message}`,
            );
          }
        }
        await sleep(interval, stop.signal);
      }
      return EXIT_OK;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      unlock();
    }
  },
};
