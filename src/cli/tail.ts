// `tmuxtrail tail`: a verified feed of the log's events for a SIEM. Each event is printed only
// after its inclusion in a verified checkpoint is proven from the hash tiles (never the log's
// proof API) and its content matches its commitment; with --follow each new checkpoint must be
// consistent with the last, or the feed stops with exit 1. Resumable with --from.
//
// Its own reads of content are recorded by the log as access events, which then appear in the feed.

import {
  TileTree,
  verifyConsistencyFromTiles,
  verifyInclusionFromTiles,
} from "../client/verified-reader.ts";
import { base64Decode, base64Encode, bytesEqual, utf8Decode } from "../log/encoding.ts";
import { TrailError } from "../log/errors.ts";
import { commitment, type EventMeta, parseLeaf } from "../log/events.ts";
import { isLogOwnEvent, LOG_EVENT_TYPES } from "../log/own-events.ts";
import { jsonLine, printable } from "../log/printable.ts";
import { parseDuration } from "../server/config.ts";
import { nodeHasher } from "../server/node-hasher.ts";
import { readToken, requestJson } from "./client.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";
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
  summary: "stream verified events as JSON lines (for a SIEM), each proven included first",
  help: `Usage: tmuxtrail tail --log URL --token-file FILE --log-key VKEY [--witness-key VKEY ... --quorum K]
                      [--from INDEX] [--follow] [--interval 2s] [--json]

Prints the log's events in tree order from INDEX (default 0): metadata, content where it is
still present, index and leaf hash. Before an event is printed, its inclusion in a checkpoint
signed by VKEY (and the witness quorum) is proven from the hash tiles, and its content is checked
against its commitment. With --follow it waits for new checkpoints (each must be consistent with
the last) and keeps going; resume after a stop with --from <last index + 1>.

  --json   one JSON object per line: {index, leafHash, checkpoint, event | leaf, content?, erased}
           (content is UTF-8 text, or base64 in contentBase64 when it is not valid UTF-8)

Example, into syslog:
  tmuxtrail tail --log $LOG --token-file reader.token --log-key "$VKEY" --follow --json \\
    | logger -t tmuxtrail

Exit codes: 0 done (or stopped by a signal); 1 an event or checkpoint failed verification (the
message names the index or sizes); 2 usage error, unreachable log or malformed answer.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ...policyFlags,
      "token-file": { type: "string" },
      from: { type: "string" },
      follow: { type: "boolean" },
      interval: { type: "string" },
    });
    const policy = readPolicy(v);
    if (!v.log || !/^https?:\/\//.test(v.log))
      throw new UsageError("--log URL of a running log is required");
    const token = readToken(v["token-file"]);
    if (!token) throw new UsageError("--token-file FILE with a read token is required");
    if (v.from !== undefined && !/^\d+$/.test(v.from))
      throw new UsageError("--from must be an index");
    let intervalMs = 2000;
    try {
      if (v.interval) intervalMs = parseDuration(v.interval, "--interval");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const source = openSource(v, token);
    // --timeout bounds every read, pages of entries included (openSource has checked it).
    const timeoutMs = v.timeout ? parseDuration(v.timeout, "--timeout") : undefined;
    const tree = new TileTree(source, nodeHasher, { maxTiles: 256 });
    let cp = openWithPolicy(await source.checkpoint(), policy).checkpoint;
    let next = Number(v.from ?? 0);
    let stopped = false;
    const stop = () => {
      stopped = true;
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      for (;;) {
        while (next < cp.size && !stopped) {
          const page = await requestJson<Entry[]>(
            v.log,
            `/v1/entries?from=${next}&limit=${Math.min(PAGE, cp.size - next)}`,
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
            process.stdout.write(`${await verified(e, tree, cp, v.json === true)}\n`);
            next++;
          }
        }
        if (!v.follow || stopped) return 0;
        await new Promise((r) => setTimeout(r, intervalMs));
        if (stopped) return 0;
        const newer = openWithPolicy(await source.checkpoint(), policy).checkpoint;
        await verifyConsistencyFromTiles(tree, cp, newer);
        cp = newer;
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  },
};

/** Checks one entry against the checkpoint and formats it; throws TrailError naming the index. */
async function verified(
  e: Entry,
  tree: TileTree,
  cp: { size: number; root: Uint8Array; origin: string },
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
  let content: Uint8Array | undefined;
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
      erased: Boolean(event?.payload && !content),
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
      ? "[content erased]"
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
