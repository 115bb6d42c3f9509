// `tmuxtrail export` and `tmuxtrail verify-bundle`: a session as one self-contained JSON document
// (src/log/session-bundle.ts), fetched from a log and checked offline with no network.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseLogVerifierKey } from "../log/keys.ts";
import { jsonLine, printable } from "../log/printable.ts";
import {
  type BundleReport,
  parseSessionBundle,
  type SessionBundle,
  verifySessionBundle,
} from "../log/session-bundle.ts";
import { nodeHasher } from "../server/node-hasher.ts";
import { readToken, requestJson } from "./client.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

const trustFlags = {
  "log-key": { type: "string" as const, multiple: true as const },
  "witness-key": { type: "string" as const, multiple: true as const },
  quorum: { type: "string" as const },
};

/** The trust flags as a BundleTrust; a --log-key that is not a log key is refused here (exit 2). */
export function trustOf(v: { "log-key"?: string[]; "witness-key"?: string[]; quorum?: string }) {
  if (v.quorum !== undefined && !/^\d+$/.test(v.quorum)) {
    throw new UsageError("--quorum must be a non-negative integer");
  }
  for (const k of v["log-key"] ?? []) parseLogVerifierKey(k);
  return {
    logKeys: v["log-key"],
    witnessKeys: v["witness-key"],
    quorum: v.quorum === undefined ? undefined : Number(v.quorum),
  };
}

export function describeReport(r: BundleReport): string[] {
  const out: string[] = [];
  const t = r.trusted;
  out.push(
    t.source.log === "given"
      ? `trusted log key (given): ${t.log.join(", ")}`
      : `log key taken from the bundle itself: ${t.log.join(", ")} (pass --log-key to check against a key you trust)`,
  );
  if (t.witnesses.length > 0 || t.quorum > 0) {
    out.push(
      `witness keys (${t.source.witnesses === "given" ? "given" : "from the bundle"}), quorum ${t.quorum}: ${t.witnesses.join(", ") || "none"}`,
    );
  }
  if (r.checkpoint) {
    out.push(
      `checkpoint: ${r.origin} size ${r.checkpoint.size}${r.checkpoint.cosigners.length ? `, cosigned by ${r.checkpoint.cosigners.join(", ")}` : ""}`,
    );
  }
  if (r.session) {
    out.push(
      `session ${r.session.id}: host ${r.session.host}, user ${r.session.user}, tmux session ${r.session.session}`,
    );
  }
  out.push(`events: ${r.verified} of ${r.events} verified`);
  for (const e of r.erased) out.push(`  event #${e.index}: content erased by event #${e.by}`);
  for (const s of r.streams) {
    const what =
      s.status === "complete"
        ? `complete (seq 0..${s.lastSeq}, closed)`
        : s.status === "open"
          ? `open (seq 0..${s.lastSeq}, no pane-close in this bundle)`
          : "has a gap";
    out.push(`stream ${s.pane}: ${what}`);
  }
  if (r.casts.length)
    out.push(`casts regenerated from the events and identical: ${r.casts.join(", ")}`);
  if (r.pending)
    out.push(
      `${r.pending} newer events were not yet covered by the checkpoint and are not included`,
    );
  for (const f of r.failures) out.push(`FAILED: ${f.message}`);
  out.push(r.ok ? "bundle verified" : `bundle NOT verified: ${r.failures.length} failure(s)`);
  // Hosts, users, panes, keys and messages come from the bundle: escaped before the terminal.
  return out.map(printable);
}

export const verifyBundle: Command = {
  name: "verify-bundle",
  summary:
    "verify an exported session bundle offline (proofs, commitments, quorum, streams, casts)",
  help: `Usage: tmuxtrail verify-bundle FILE [--log-key VKEY ...] [--witness-key VKEY ... --quorum K] [--json]

Checks a session bundle (from tmuxtrail export) with no network: the checkpoint's log signature
and witness quorum, every event's inclusion proof against that one checkpoint, every content's
commitment, that every missing content is named by a verified erasure event, that each pane's
stream is contiguous from seq 0 (complete with a pane-close, else reported open), and that each
asciicast recording equals the one regenerated from the verified events.

Keys given here take precedence over the keys the bundle carries (those are hints: anyone can
write them). The output says which keys were trusted.

Exit codes: 0 verified; 1 a check failed (each failure names the event or stream); 2 usage error
or a file that is not a bundle.`,
  async run(argv) {
    const { values: v, positionals } = parseFlags(
      argv,
      { ...trustFlags, json: { type: "boolean" } },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("expected exactly one FILE");
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(positionals[0]!, "utf8"));
    } catch (e) {
      throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    }
    const report = verifySessionBundle(parseSessionBundle(value), trustOf(v), nodeHasher);
    if (v.json) {
      const { eventStatus: _, ...rest } = report;
      console.log(jsonLine(rest));
    } else console.log(describeReport(report).join("\n"));
    return report.ok ? 0 : 1;
  },
};

export const exportCommand: Command = {
  name: "export",
  summary: "export a session as a self-contained bundle that verifies offline",
  help: `Usage: tmuxtrail export ID --log URL --token-file FILE --out FILE [--cast PANE]
                        [--log-key VKEY ...] [--witness-key VKEY ... --quorum K] [--json]

Fetches session ID (see tmuxtrail sessions list) as one uncompressed JSON document: its events,
their content and salts, an asciicast v2 recording per pane, one c2sp.org/tlog-proof@v1 per event
against a single cosigned checkpoint, and the log and witness keys. The bundle is verified before
it is written (as verify-bundle does; with the keys given here, else the log's); a bundle that
does not verify is not written (exit 1). The export is recorded in the log as an access event.

  --cast PANE   write only that pane's asciicast (e.g. %3) to --out; play it with
                \`asciinema play FILE\`
  --out -       write to standard output`,
  async run(argv) {
    const { values: v, positionals } = parseFlags(
      argv,
      {
        ...trustFlags,
        log: { type: "string" },
        "token-file": { type: "string" },
        out: { type: "string" },
        cast: { type: "string" },
        json: { type: "boolean" },
      },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("expected exactly one session ID");
    if (!v.out) throw new UsageError("--out FILE is required");
    const bundle = await requestJson<SessionBundle>(
      v.log ?? "http://127.0.0.1:8080",
      `/v1/sessions/${encodeURIComponent(positionals[0]!)}/export`,
      { token: readToken(v["token-file"]) },
    );
    const report = verifySessionBundle(parseSessionBundle(bundle), trustOf(v), nodeHasher);
    if (!report.ok) {
      console.error(describeReport(report).join("\n"));
      return 1;
    }
    let text: string;
    if (v.cast !== undefined) {
      const cast = bundle.casts[v.cast];
      if (cast === undefined) {
        throw new UsageError(
          `no pane ${v.cast} in this session (panes: ${Object.keys(bundle.casts).join(", ") || "none"})`,
        );
      }
      text = cast;
    } else text = `${JSON.stringify(bundle, null, 1)}\n`;
    if (v.out === "-") process.stdout.write(text);
    else {
      writeFileSync(`${v.out}.tmp`, text, { mode: 0o600 });
      renameSync(`${v.out}.tmp`, v.out);
    }
    const summary = {
      ok: true,
      session: bundle.session.id,
      events: bundle.events.length,
      erased: report.erased.length,
      pending: bundle.pending,
      out: v.out,
    };
    if (v.json) {
      if (v.out !== "-") console.log(JSON.stringify(summary));
    } else if (v.out !== "-") {
      console.error(describeReport(report).join("\n"));
      console.error(`wrote ${v.out}`);
    }
    return 0;
  },
};
