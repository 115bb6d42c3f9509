// `tmuxtrail verify checkpoint|inclusion|consistency`: an auditor's checks of a log from its
// public tlog-tiles files alone (a running log, a mirror, or a directory). The checkpoint is
// opened with the log's key and a witness quorum; every proof is rebuilt from hash tiles and
// checked against that signed checkpoint, never taken from the log's JSON proof API. On a
// failure the message names what failed: the signature, the quorum, the sizes, the tile.
//
// Also home of what `monitor` shares: the trust-policy flags and the mapping of an error to an
// exit code and a JSON error object.
//
// Longer than most files: three subcommands sharing one flag table, policy and report; each is a
// short function below.

import { readFileSync } from "node:fs";
import { type LogSource, openLogSource } from "../client/log-source.ts";
import {
  rootFromTiles,
  TileTree,
  verifyAllTiles,
  verifyConsistencyFromTiles,
  verifyInclusionFromTiles,
  verifyRootFromTiles,
} from "../client/verified-reader.ts";
import { type OpenedCheckpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, hexEncode } from "../core/encoding.ts";
import { isTrailError, TrailError } from "../core/errors.ts";
import { rfc6962 } from "../core/hash.ts";
import {
  cosignatureVerifierKey,
  parseLogVerifierKey,
  parseVerifierKey,
  type Verifier,
} from "../core/keys.ts";
import { jsonLine, printable } from "../core/printable.ts";
import { quorumWarning } from "../core/quorum.ts";
import { entryBundleFor } from "../core/tiles.ts";
import { parseDuration } from "../server/config.ts";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./command.ts";
import { classify } from "./exit.ts";
import { readToken } from "./log-api.ts";

/** Flags every verifying command takes: where the log is and whom to trust. */
export const policyFlags = {
  log: { type: "string" },
  "log-key": { type: "string", multiple: true },
  "witness-key": { type: "string", multiple: true },
  quorum: { type: "string" },
  timeout: { type: "string" },
  json: { type: "boolean" },
} as const;

export interface Policy {
  log: Verifier[];
  witnesses: Verifier[];
  quorum: number;
}

export function readPolicy(v: {
  "log-key"?: string[];
  "witness-key"?: string[];
  quorum?: string;
}): Policy {
  if (!v["log-key"]?.length) throw new UsageError("--log-key VKEY is required");
  const log = v["log-key"].map(parseLogVerifierKey);
  // The 0x04 cosignature key is canonical; a witness's 0x01 key is accepted and converted.
  const witnesses = (v["witness-key"] ?? []).map((k) =>
    parseVerifierKey(cosignatureVerifierKey(k)),
  );
  let quorum = witnesses.length;
  if (v.quorum !== undefined) {
    if (!/^\d+$/.test(v.quorum)) throw new UsageError("--quorum must be a non-negative integer");
    quorum = Number(v.quorum);
  }
  if (quorum > witnesses.length)
    throw new UsageError(`--quorum ${quorum} needs at least ${quorum} --witness-key`);
  return { log, witnesses, quorum };
}

export function openSource(v: { log?: string; timeout?: string }, token?: string): LogSource {
  if (!v.log) throw new UsageError("--log URL|DIR is required");
  let timeoutMs: number | undefined;
  try {
    timeoutMs = v.timeout === undefined ? undefined : parseDuration(v.timeout, "--timeout");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return openLogSource(v.log, { token, timeoutMs });
}

/** Opens a note with the policy; `quorum` overrides the policy's (0 for a saved checkpoint). */
export function openWithPolicy(
  note: string,
  p: Policy,
  quorum = p.quorum,
  origin?: string,
): OpenedCheckpoint {
  try {
    return openCheckpoint(note, p.log, p.witnesses, quorum, origin);
  } catch (e) {
    if (!isTrailError(e, "unverified")) throw e;
    const names = p.log.map((k) => `${k.name}+${hexEncode(k.keyId)}`).join(", ");
    throw new TrailError("unverified", `the checkpoint is not signed by the log key ${names}`);
  }
}

function summary(o: OpenedCheckpoint, p: Policy) {
  return {
    origin: o.checkpoint.origin,
    size: o.checkpoint.size,
    root: base64Encode(o.checkpoint.root),
    witnesses: o.witnesses.map((w) => w.name),
    quorum: p.quorum,
  };
}

function describe(o: OpenedCheckpoint, p: Policy): string[] {
  const cp = o.checkpoint;
  return [
    `  origin    ${cp.origin}`,
    `  size      ${cp.size}`,
    `  root      ${base64Encode(cp.root)}`,
    `  signed    ${o.logSigners.join(", ")}`,
    p.witnesses.length
      ? `  witnesses ${o.witnesses.length} of ${p.witnesses.length} cosigned (quorum ${p.quorum})${o.witnesses.length ? `: ${o.witnesses.map((w) => w.name).join(", ")}` : ""}`
      : "  witnesses none required (no --witness-key)",
  ];
}

type Result = { json: Record<string, unknown>; text: string[] };

async function latest(source: LogSource, p: Policy): Promise<OpenedCheckpoint> {
  return openWithPolicy(await source.checkpoint(), p);
}

async function checkpointCmd(source: LogSource, p: Policy, allTiles: boolean): Promise<Result> {
  const o = await latest(source, p);
  const tree = new TileTree(source);
  await verifyRootFromTiles(tree, o.checkpoint);
  const audited = allTiles ? await verifyAllTiles(tree, o.checkpoint) : undefined;
  return {
    json: { ...summary(o, p), ...(audited === undefined ? {} : { tilesChecked: audited }) },
    text: [
      "checkpoint verified: signature, quorum, and the tiles hash to its root",
      ...(audited === undefined
        ? []
        : [`  tiles     all ${audited} full tiles agree with their parents`]),
      ...describe(o, p),
    ],
  };
}

async function inclusionCmd(
  source: LogSource,
  p: Policy,
  v: { index?: string; leaf?: string },
): Promise<Result> {
  if (v.index === undefined || !/^\d+$/.test(v.index))
    throw new UsageError("--index I (a leaf index) is required");
  const index = Number(v.index);
  let leaf: Uint8Array | undefined;
  if (v.leaf !== undefined) {
    try {
      leaf = readFileSync(v.leaf);
    } catch (e) {
      throw new UsageError(`cannot read --leaf ${v.leaf}: ${(e as Error).message}`);
    }
  }
  const o = await latest(source, p);
  const cp = o.checkpoint;
  if (index >= cp.size)
    throw new TrailError("bad-index", `index ${index} is not in the tree of size ${cp.size}`);
  if (!leaf) {
    const b = entryBundleFor(index, cp.size);
    leaf = (await source.entryBundle(b.index, b.width))[b.offset]!;
  }
  const leafHash = rfc6962.leaf(leaf);
  const proof = await verifyInclusionFromTiles(new TileTree(source), index, leafHash, cp);
  return {
    json: {
      ...summary(o, p),
      index,
      leafHash: base64Encode(leafHash),
      leafSource: v.leaf === undefined ? "entry bundle" : "file",
      proof: proof.map(base64Encode),
    },
    text: [
      `leaf ${index} is included in the checkpoint (proof of ${proof.length} hashes rebuilt from tiles)`,
      `  leaf hash ${base64Encode(leafHash)} (from ${v.leaf ?? "the entry bundle"})`,
      ...describe(o, p),
    ],
  };
}

async function consistencyCmd(source: LogSource, p: Policy, from: string | undefined) {
  if (from === undefined) throw new UsageError("--from SIZE|CHECKPOINT-FILE is required");
  const o = await latest(source, p);
  const cp = o.checkpoint;
  const tree = new TileTree(source);
  let old: { origin: string; size: number; root: Uint8Array };
  let fromKind: "checkpoint file" | "tiles";
  const warnings: string[] = [];
  if (/^\d+$/.test(from)) {
    const size = Number(from);
    if (size > cp.size)
      throw new TrailError(
        "bad-size",
        `the log's latest checkpoint has size ${cp.size}, smaller than --from ${size} (a rollback?)`,
      );
    // A bare size has no trusted root: the log's own tiles supply it.
    old = { origin: cp.origin, size, root: await rootFromTiles(tree, size) };
    fromKind = "tiles";
    warnings.push(
      `--from ${size} is a bare size: its root comes from the log's own tiles, so this shows only ` +
        "that the log is self-consistent. Verify against a checkpoint file you saved earlier " +
        "(--from FILE) for the real check.",
    );
  } else {
    let note: string;
    try {
      note = readFileSync(from, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read --from ${from}: ${(e as Error).message}`);
    }
    // The saved checkpoint's trust is that you saved it: the log key must sign it, and it must be
    // of the same log; the witness quorum applied when it was saved.
    old = openWithPolicy(note, p, 0, cp.origin).checkpoint;
    fromKind = "checkpoint file";
  }
  for (const w of warnings) console.error(`warning: ${w}`);
  await verifyConsistencyFromTiles(tree, old, cp);
  return {
    json: {
      ...summary(o, p),
      from: { size: old.size, root: base64Encode(old.root), source: fromKind },
      ...(warnings.length ? { warnings } : {}),
    },
    text: [
      `size ${old.size} (root from ${fromKind === "tiles" ? "the log's tiles" : from}) is consistent with the latest checkpoint`,
      ...describe(o, p),
    ],
  };
}

const SUBCOMMANDS = ["checkpoint", "inclusion", "consistency"] as const;

export const verify: Command = {
  name: "verify",
  help: `Usage:
  tmuxtrail verify checkpoint  --log URL|DIR --log-key VKEY [--all-tiles] [--json]
  tmuxtrail verify inclusion   --log URL|DIR --log-key VKEY --index I [--leaf FILE | --token-file FILE] [--json]
  tmuxtrail verify consistency --log URL|DIR --log-key VKEY --from SIZE|CHECKPOINT-FILE [--json]

Reads the log's C2SP tlog-tiles files (GET /checkpoint, /tile/...) from a running log, a mirror
or a directory with the same layout, opens the latest checkpoint with the log key and the witness
quorum, and rebuilds every proof from the hash tiles (never from the log's proof API).

  checkpoint   the signature, the quorum, and that the hash tiles at its size hash to its root;
               --all-tiles also checks every full tile against its parent tile (size/256 fetches)
  inclusion    leaf I is in the tree: the raw leaf bytes from --leaf FILE, or fetched from the
               entry bundle (a log needs a read token: --token-file, or TMUXTRAIL_TOKEN)
  consistency  the latest tree extends an older one: --from FILE is a checkpoint you saved
               earlier (its signature is checked with the same keys); --from SIZE takes the old
               root from the log's own tiles, which proves much less (a warning says so)

Flags:
  --log URL|DIR          the log (http(s)://…) or a directory of its tiles
  --log-key VKEY         the log's verifier key, repeatable (any one must sign)
  --witness-key VKEY     a witness's cosignature key (name+id+base64(0x04||key); the 0x01 form
                         is converted), repeatable
  --quorum K             witnesses that must have cosigned (default: every --witness-key)
  --timeout D            per-request timeout (default 10s)
  --json                 print one JSON object: {ok, command, origin, size, root, ...} or
                         {ok: false, command, error: {code, message}}

Examples:
  tmuxtrail verify checkpoint --log https://log.example --log-key "$(cat log.vkey)"
  tmuxtrail verify inclusion --log https://log.example --log-key "$VKEY" --index 1234 --token-file read.token
  tmuxtrail verify inclusion --log ./mirror --log-key "$VKEY" --index 1234 --leaf leaf.bin
  curl -s https://log.example/checkpoint > saved.checkpoint   # ... later:
  tmuxtrail verify consistency --log https://log.example --log-key "$VKEY" --from saved.checkpoint

Exit codes: 0 verified; 1 verification failed (the message names the signature, the quorum,
the index, the sizes or the tile); 2 usage error, unreachable log or malformed answer.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!SUBCOMMANDS.includes(sub as (typeof SUBCOMMANDS)[number]))
      throw new UsageError(`expected a subcommand: ${SUBCOMMANDS.join(", ")}`);
    const extra: Record<string, { type: "string" | "boolean" }> =
      sub === "inclusion"
        ? { index: { type: "string" }, leaf: { type: "string" }, "token-file": { type: "string" } }
        : sub === "consistency"
          ? { from: { type: "string" } }
          : { "all-tiles": { type: "boolean" } };
    const { values } = parseFlags(rest, { ...policyFlags, ...extra });
    const v = values as Record<string, string | string[] | boolean | undefined>;
    const json = Boolean(v.json);
    const policy = readPolicy(values);
    const qw = quorumWarning(policy.quorum, policy.witnesses.length);
    if (qw) console.error(`tmuxtrail verify: warning: ${qw}`);
    const token =
      sub === "inclusion" && v.leaf === undefined
        ? readToken(v["token-file"] as string | undefined)
        : undefined;
    const source = openSource(values, token);
    try {
      const r =
        sub === "checkpoint"
          ? await checkpointCmd(source, policy, Boolean(v["all-tiles"]))
          : sub === "inclusion"
            ? await inclusionCmd(source, policy, v as { index?: string; leaf?: string })
            : await consistencyCmd(source, policy, v.from as string | undefined);
      // The origin and key names come from the log's checkpoint: escaped before the terminal.
      if (json) console.log(jsonLine({ ok: true, command: sub, ...r.json }));
      else console.log(r.text.map(printable).join("\n"));
      return EXIT_OK;
    } catch (e) {
      if (!json) throw e;
      const { exit, error } = classify(e);
      console.log(jsonLine({ ok: false, command: sub, error }));
      return exit;
    }
  },
};
