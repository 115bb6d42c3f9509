// `tmuxtrail tail`: a verified feed of the log's events for a SIEM. Each event is printed only
// after its inclusion in a verified checkpoint is proven from the hash tiles (never the log's
// proof API) and its content matches its commitment; content the log no longer serves is shown as
// erased only when an erasure event of the log's own stream, itself proven included, names its
// index (as verify-bundle requires), else the feed stops with exit 1. With --state FILE the
// checkpoint of the previous run is the starting point: the served one must extend it (a log
// rebuilt under the same key with another history is a fork, exit 1), and every checkpoint
// verified is saved there (checkpoint-state.ts, shared with monitor). With --follow each new
// checkpoint must be consistent with the last; a round that fails for want of an answer
// (unreachable, withheld, malformed) is retried, and only a verification failure ends the feed.
// Resumable with --from.
//
// Its own reads of content are recorded by the log as access events, which then appear in the feed.
//
// Longer than most files: the flag table, the erasure rule and the follow loop of one command,
// which read best together.

import {
  type Alarm,
  checkExtends,
  readState,
  requireSameOrigin,
  writeState,
} from "../client/checkpoint-state.ts";
import { TileTree, verifyInclusionFromTiles } from "../client/verified-reader.ts";
import type { Checkpoint } from "../core/checkpoint.ts";
import { base64Decode, base64Encode, bytesEqual, utf8Decode } from "../core/encoding.ts";
import { TrailError } from "../core/errors.ts";
import { commitment, type EventMeta, parseLeaf } from "../core/events.ts";
import { isLogOwnEvent, LOG_EVENT_TYPES } from "../core/own-events.ts";
import { jsonLine, printable } from "../core/printable.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { parseDuration } from "../server/config.ts";
import {
  type Command,
  EXIT_OK,
  EXIT_USAGE,
  EXIT_VERIFY_FAILED,
  parseFlags,
  UsageError,
} from "./command.ts";
import { classify } from "./exit.ts";
import { readToken, requestJson } from "./log-api.ts";
import { openSource, openWithPolicy, policyFlags, readPolicy } from "./verify.ts";

interface Entry {
  index: number;
  leafHash: string;
  leaf: string;
  payload: { salt: string; content: string } | null;
  erased: boolean;
}

const PAGE = 500;

export const tail: Command = {
  name: "tail",
  help: `Usage: tmuxtrail tail --log URL --token-file FILE --log-key VKEY [--witness-key VKEY ... --quorum K]
                      [--from INDEX] [--follow] [--interval 2s] [--unproven-after D]
                      [--state FILE] [--json]

Prints the log's events in tree order from INDEX (default 0): metadata, content where it is
still present, index and leaf hash. Before an event is printed, its inclusion in a checkpoint
signed by VKEY (and the witness quorum) is proven from the hash tiles, and its content is checked
against its commitment. Content the log no longer serves is printed as erased only when an
erasure event in the log's own stream, proven included, names the index; otherwise the feed stops
(exit 1). With --follow it waits for new checkpoints (each must be consistent with the last) and
keeps going; a round that fails for want of an answer (unreachable, tiles withheld, malformed) is
logged and retried, and when no round has completed for --unproven-after it is an alarm (exit 1):
a log that forked and then withholds the tiles that would prove it must not stall the feed
silently. Resume after a stop with --from <last index + 1>.

  --unproven-after D   with --follow, the alarm's deadline (default 3 × --interval, at least 1m)

  --state FILE   the last checkpoint tail verified (created on the first run, replaced
                 atomically after each verified checkpoint). The log's checkpoint must extend it:
                 a smaller tree, another root at its size or a failed consistency proof is a fork
                 or rollback, exit 1, FILE kept. A FILE signed by another key or of another origin
                 is refused (exit 2). Without it, tail trusts the first checkpoint it is served.
  --json         one JSON object per line: {index, leafHash, checkpoint, event | leaf, content?,
                 erased, erasedBy?} (content is UTF-8 text, or base64 in contentBase64 when it is
                 not valid UTF-8; erasedBy is the index of the erasure event)

Example, into syslog:
  tmuxtrail tail --log $LOG --token-file reader.token --log-key "$VKEY" --follow --json \\
    --state /var/lib/tmuxtrail/tail.checkpoint | logger -t tmuxtrail

Exit codes: 0 done (or stopped by a signal); 1 an event or checkpoint failed verification (the
message names the index or sizes); 2 usage error, or (without --follow) an unreachable log or
malformed answer.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ...policyFlags,
      "token-file": { type: "string" },
      from: { type: "string" },
      follow: { type: "boolean" },
      interval: { type: "string" },
      "unproven-after": { type: "string" },
      state: { type: "string" },
    });
    const policy = readPolicy(v);
    if (!v.log || !/^https?:\/\//.test(v.log))
      throw new UsageError("--log URL of a running log is required");
    const logUrl = v.log;
    const token = readToken(v["token-file"]);
    if (!token) throw new UsageError("--token-file FILE with a read token is required");
    if (v.from !== undefined && !/^\d+$/.test(v.from))
      throw new UsageError("--from must be an index");
    let intervalMs = 2000;
    let unprovenAfterMs: number;
    try {
      if (v.interval) intervalMs = parseDuration(v.interval, "--interval");
      unprovenAfterMs =
        v["unproven-after"] !== undefined
          ? parseDuration(v["unproven-after"], "--unproven-after")
          : Math.max(3 * intervalMs, 60_000);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const stateFile = v.state;
    // The quorum held when it was saved; witnesses' keys may rotate since.
    const saved = stateFile ? readState(stateFile, (n) => openWithPolicy(n, policy, 0)) : undefined;
    const source = openSource(v, token);
    // --timeout bounds every read, pages of entries included (openSource has checked it).
    const timeoutMs = v.timeout ? parseDuration(v.timeout, "--timeout") : undefined;
    const tree = new TileTree(source, nodeHasher, { maxTiles: 256 });
    /** The last checkpoint verified: the saved one until the log's is checked against it. */
    let cp: Checkpoint | undefined = saved?.cp.checkpoint;
    let next = Number(v.from ?? 0);

    /** Takes the log's checkpoint when it extends `cp`; an alarm when it does not. */
    const advance = async (): Promise<Alarm | undefined> => {
      const note = await source.checkpoint();
      const now = openWithPolicy(note, policy).checkpoint;
      if (cp) {
        if (saved && stateFile) requireSameOrigin(cp, now, stateFile);
        const alarm = await checkExtends(tree, cp, now);
        if (alarm) return alarm;
        if (now.size === cp.size) return undefined;
      }
      if (stateFile) writeState(stateFile, note);
      cp = now;
      return undefined;
    };
    const erasures = new Erasures(logUrl, { token, timeoutMs }, tree, async () => {
      const alarm = await advance();
      if (alarm) throw new TrailError("proof-mismatch", alarm.message);
      return cp!;
    });

    let stopped = false;
    const stop = () => {
      stopped = true;
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    /** When rounds started failing for want of an answer (undefined while they complete). */
    let failingSince: number | undefined;
    try {
      for (let first = true; ; first = false) {
        if (!first) {
          if (!v.follow || stopped) return EXIT_OK;
          await new Promise((r) => setTimeout(r, intervalMs));
          if (stopped) return EXIT_OK;
        }
        try {
          const alarm = await advance();
          if (alarm) {
            console.error(`tail: ALARM (${alarm.kind}): ${alarm.message}`);
            return EXIT_VERIFY_FAILED;
          }
          while (next < cp!.size && !stopped) {
            const page = await requestJson<Entry[]>(
              logUrl,
              `/v1/entries?from=${next}&limit=${Math.min(PAGE, cp!.size - next)}`,
              { token, timeoutMs },
            );
            if (page.length === 0)
              throw new TrailError("malformed", `the log has no entry at index ${next}`);
            for (const e of page) {
              if (e.index !== next) {
                throw new TrailError(
                  "malformed",
                  `asked for index ${next}, the log answered ${e.index}`,
                );
              }
              process.stdout.write(`${await verified(e, tree, cp!, erasures, v.json === true)}\n`);
              next++;
            }
          }
          failingSince = undefined;
        } catch (e) {
          const { exit, error } = classify(e);
          // Only an answer we could not get is retried: a failed proof is never retried away.
          if (!v.follow || exit !== EXIT_USAGE || e instanceof UsageError) throw e;
          failingSince ??= Date.now();
          const failingMs = Date.now() - failingSince;
          if (failingMs >= unprovenAfterMs) {
            console.error(
              `tail: ALARM (unproven): no round has completed for ${Math.round(failingMs / 1000)} s (--unproven-after ${Math.round(unprovenAfterMs / 1000)} s); the last failure, at index ${next}: ${error.code}: ${error.message}`,
            );
            return EXIT_VERIFY_FAILED;
          }
          console.error(
            `tail: round failed at index ${next} (retrying in ${intervalMs} ms): ${error.code}: ${error.message}`,
          );
        }
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  },
};

/**
 * The log's own erasure events, each proven included in a verified checkpoint, read ahead of the
 * feed only when an entry's content is missing: entries printed are fed in by `see`, and the
 * look-ahead scans from the furthest index seen up to the checkpoint (then to a newer one, which
 * `refresh` proves consistent first: an erasure's event may be sequenced after the checkpoint the
 * feed is at). Worked example: content of #7 missing, feed at checkpoint 40; #12 is an erasure
 * event of the log's own stream naming [5, 9]: #12 is proven in size 40, so #7 is "erased by #12".
 */
class Erasures {
  private readonly known: { by: number; ranges: [number, number][] }[] = [];
  /** Indexes below this were seen (fed in or scanned). */
  private seen = 0;

  constructor(
    private readonly logUrl: string,
    private readonly auth: { token: string; timeoutMs?: number },
    private readonly tree: TileTree,
    private readonly refresh: () => Promise<Checkpoint>,
  ) {}

  /** Records `event` at `index` when it is one of the log's erasures (its inclusion is proven). */
  see(index: number, event: EventMeta | undefined, origin: string): void {
    if (index >= this.seen) this.seen = index + 1;
    if (event?.erasure && isLogOwnEvent(event, origin))
      this.known.push({ by: index, ranges: event.erasure.indexes });
  }

  /** The index of the erasure event naming `index`; throws when no verified one does. */
  async erasedBy(index: number, cp: Checkpoint): Promise<number> {
    const found = () =>
      this.known.find((k) => k.by > index && k.ranges.some(([a, b]) => a <= index && index <= b))
        ?.by;
    let at = cp;
    for (let refreshed = false; ; refreshed = true) {
      let by = found();
      while (by === undefined && Math.max(this.seen, index + 1) < at.size) {
        await this.scan(Math.max(this.seen, index + 1), at);
        by = found();
      }
      if (by !== undefined) return by;
      if (refreshed) break;
      at = await this.refresh();
    }
    throw new TrailError(
      "commitment-mismatch",
      `entry ${index}: its content is missing and no erasure event of the log's own stream names it (searched to size ${at.size}): deleted, not erased`,
    );
  }

  private async scan(from: number, cp: Checkpoint): Promise<void> {
    const page = await requestJson<Entry[]>(
      this.logUrl,
      `/v1/entries?from=${from}&limit=${Math.min(PAGE, cp.size - from)}`,
      this.auth,
    );
    if (page.length === 0 || page[0]!.index !== from)
      throw new TrailError("malformed", `the log has no entry at index ${from}`);
    for (const e of page) {
      const leaf = base64Decode(e.leaf, `leaf ${e.index}`);
      let event: EventMeta | undefined;
      try {
        event = parseLeaf(leaf);
      } catch {
        event = undefined;
      }
      if (event?.erasure && isLogOwnEvent(event, cp.origin))
        await verifyInclusionFromTiles(this.tree, e.index, nodeHasher.leaf(leaf), cp);
      this.see(e.index, event, cp.origin);
    }
  }
}

/** Checks one entry against the checkpoint and formats it; throws TrailError naming the index. */
async function verified(
  e: Entry,
  tree: TileTree,
  cp: Checkpoint,
  erasures: Erasures,
  json: boolean,
): Promise<string> {
  const leaf = base64Decode(e.leaf, `leaf ${e.index}`);
  const leafHash = nodeHasher.leaf(leaf);
  if (!bytesEqual(leafHash, base64Decode(e.leafHash, `leaf hash ${e.index}`, 32))) {
    throw new TrailError(
      "proof-mismatch",
      `entry ${e.index}: its leafHash is not the hash of its leaf`,
    );
  }
  await verifyInclusionFromTiles(tree, e.index, leafHash, { ...cp, origin: cp.origin });
  let event: EventMeta | undefined;
  try {
    event = parseLeaf(leaf);
  } catch {
    event = undefined; // an opaque leaf
  }
  erasures.see(e.index, event, cp.origin);
  let content: Uint8Array | undefined;
  let erasedBy: number | undefined;
  if (event?.payload && !e.payload) erasedBy = await erasures.erasedBy(e.index, cp);
  if (e.payload) {
    if (!event?.payload) {
      throw new TrailError(
        "commitment-mismatch",
        `entry ${e.index}: content for a leaf that commits to none`,
      );
    }
    content = base64Decode(e.payload.content, `content ${e.index}`);
    const salt = base64Decode(e.payload.salt, `salt ${e.index}`, 32);
    if (
      content.length !== event.payload.size ||
      commitment(salt, content) !== event.payload.sha256
    ) {
      throw new TrailError(
        "commitment-mismatch",
        `entry ${e.index}: content does not match the leaf's commitment`,
      );
    }
  }
  let text: string | undefined;
  if (content) {
    try {
      text = utf8Decode(content);
    } catch {
      text = undefined;
    }
  }
  if (json) {
    return jsonLine({
      index: e.index,
      leafHash: base64Encode(leafHash),
      checkpoint: cp.size,
      ...(event ? { event } : { leaf: e.leaf }),
      ...(content
        ? text !== undefined
          ? { content: text }
          : { contentBase64: base64Encode(content) }
        : {}),
      erased: erasedBy !== undefined,
      ...(erasedBy !== undefined ? { erasedBy } : {}),
    });
  }
  if (!event) return `#${e.index} leaf ${e.leaf}`;
  // Erasure and access events count only from the log's own stream (own-events.ts).
  const forged =
    LOG_EVENT_TYPES.includes(event.type) && !isLogOwnEvent(event, cp.origin)
      ? `[NOT the log's own ${event.type} event: not honoured]`
      : undefined;
  const what = content
    ? JSON.stringify(text ?? `<${content.length} bytes>`).slice(0, 200)
    : event.payload
      ? `[content erased by event #${erasedBy}]`
      : (forged ??
        (event.access
          ? `${event.access.key} read ${event.access.read}`
          : event.erasure
            ? `${event.erasure.key} erased ${event.erasure.indexes.length} range(s): ${event.erasure.reason}`
            : ""));
  // Every field came from a submitter (or a reader's request): escaped before the terminal.
  return printable(
    `#${e.index} ${event.time} ${event.host} ${event.user} ${event.type} ${event.session}/${event.pane} ${what}`,
  );
}
