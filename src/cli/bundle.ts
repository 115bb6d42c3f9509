// `tmuxtrail export` and `tmuxtrail verify-bundle`: a session as one self-contained JSON document
// (src/core/session-bundle.ts), fetched from a log and checked offline with no network
// (src/core/session-bundle-verify.ts).
//
// Trust comes only from the user: --log-key VKEY or --log-key-file FILE (a pinned key file, one
// verifier key per line, # comments). Without either, every check still runs against the key the
// bundle carries, the output says so, and the command exits 1: a bundle signed by any key, with
// that key inside it, is never "verified".
//
// Longer than most files: two commands that share the flags of trust and one report's wording
// (describeReport), with their help texts.

import { readFileSync } from "node:fs";
import { parseLogVerifierKey } from "../core/keys.ts";
import { jsonLine, printable } from "../core/printable.ts";
import { type AnySessionBundle, parseSessionBundle } from "../core/session-bundle.ts";
import type { BundleReport, BundleTrust } from "../core/session-bundle-verify.ts";
import { utcTimeOrDate } from "../core/time-window.ts";
import { writeFileAtomic } from "../lib/atomic-file.ts";
import { type FactsPool, withFactsPool } from "../lib/bundle-facts-pool.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";
import { readToken, requestJson } from "./log-api.ts";
import { bundleRead, maxBytesFlag, maxBytesHelp } from "./read-limits.ts";
import { idsAsPositionals } from "./session-arg.ts";

export const trustFlags = {
  "log-key": { type: "string" as const, multiple: true as const },
  "log-key-file": { type: "string" as const, multiple: true as const },
  "witness-key": { type: "string" as const, multiple: true as const },
  quorum: { type: "string" as const },
  "require-closed": { type: "boolean" as const },
};

export const trustHelp = `  --log-key VKEY        the log's verifier key, repeatable (any one must sign)
  --log-key-file FILE   a pinned file of log verifier keys, one per line (# comments)
  --witness-key VKEY    a witness's cosignature key, repeatable
  --quorum K            witnesses that must have cosigned (default: every --witness-key)
  --require-closed      an open pane stream (no pane-close in the bundle) is a failure

Without --log-key or --log-key-file the checks run against the key the bundle carries (anyone
can write one), the output says so and never says "verified", and the exit code is 1.`;

/** The keys of a pinned key file: one verifier key per line; blank lines and # comments skipped. */
function readKeyFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --log-key-file ${file}: ${(e as Error).message}`);
  }
  const keys = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (keys.length === 0) throw new UsageError(`--log-key-file ${file} holds no key`);
  return keys;
}

/** The trust flags as a BundleTrust; a --log-key that is not a log key is refused here (exit 2). */
export function trustOf(v: {
  "log-key"?: string[];
  "log-key-file"?: string[];
  "witness-key"?: string[];
  quorum?: string;
  "require-closed"?: boolean;
}) {
  if (v.quorum !== undefined && !/^\d+$/.test(v.quorum)) {
    throw new UsageError("--quorum must be a non-negative integer");
  }
  const logKeys = [...(v["log-key"] ?? []), ...(v["log-key-file"] ?? []).flatMap(readKeyFile)];
  for (const k of logKeys) parseLogVerifierKey(k);
  return {
    logKeys: logKeys.length ? logKeys : undefined,
    witnessKeys: v["witness-key"],
    quorum: v.quorum === undefined ? undefined : Number(v.quorum),
    requireClosed: v["require-closed"] ?? false,
  };
}

/** Parses a command's flags where the one positional may be a session id beginning with "-". */
export function parseIdArgs<O extends Parameters<typeof parseFlags>[1]>(
  argv: string[],
  options: O,
) {
  return parseFlags(idsAsPositionals(argv, options), options, true);
}

/** The bundle's verdict in one line: verified only with a key the user gave. */
export function verdict(r: BundleReport): string {
  if (r.ok) return "bundle verified";
  if (r.consistent) {
    return "bundle NOT verified: its checks pass only against the log key the bundle carries itself, which anyone can write (give --log-key or --log-key-file)";
  }
  return `bundle NOT verified: ${r.failures.length} failure(s)`;
}

export function describeReport(r: BundleReport): string[] {
  const out: string[] = [];
  const t = r.trusted;
  out.push(
    t.source.log === "given"
      ? `trusted log key (given): ${t.log.join(", ")}`
      : `log key taken from the bundle itself: ${t.log.join(", ")} (the signature was checked only against the bundle's own key; pass --log-key or --log-key-file to check against a key you trust)`,
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
      `session ${r.session.id}: host ${r.session.host}, server ${r.session.server}, user ${r.session.user}, tmux session ${r.session.session}`,
    );
  }
  if (r.window) {
    out.push(
      `window: ${r.window.since ?? "the session's start"} to ${r.window.until ?? "its end"} (the events whose own signed time lies in [since, until); proven by one multi-leaf proof)`,
    );
  }
  out.push(
    r.events === 0
      ? "events: none (this bundle proves nothing about the session)"
      : `events: ${r.verified} of ${r.events} checked`,
  );
  for (const e of r.erased) out.push(`  event #${e.index}: content erased by event #${e.by}`);
  // In a window that starts after the session, a stream runs from its first seq in the window;
  // the next window of the same pane must start at lastSeq + 1 (windows meet).
  const here = r.window ? "this window" : "this bundle";
  for (const s of r.streams) {
    const seqs = `seq ${s.firstSeq}..${s.lastSeq}`;
    const what =
      s.status === "complete"
        ? `complete (${seqs}, closed)`
        : s.status === "open"
          ? `open (${seqs}, no pane-close in ${here})`
          : "has a gap";
    out.push(`stream ${s.pane}: ${what}`);
  }
  if (r.window?.since !== undefined && r.streams.some((s) => s.firstSeq > 0)) {
    out.push(
      "streams start inside the session: their earlier seqs are in the windows before this one",
    );
  }
  if (r.streams.length > 0 && r.streams.every((s) => s.status === "open")) {
    out.push(
      r.window?.until !== undefined
        ? `every stream is open at the window's end: the session goes on in the next window (since ${r.window.until})`
        : "every stream is open: the session may have gone on after the last event here (--require-closed to refuse)",
    );
  }
  if (r.sessionClosed) out.push("session closed (a session-close event is in the bundle)");
  if (r.last) {
    out.push(
      r.last.proven
        ? `the exporter's log knew the session up to event #${r.last.index}, the last one here (the exporter's word: it cannot prove no later event of the session is below the checkpoint's size)`
        : `the exporter's log knew the session up to event #${r.last.index}`,
    );
  } else if (r.checkpoint && r.events > 0) {
    out.push("the bundle does not say the session's last index (a v1 export)");
  }
  if (r.casts.length)
    out.push(`casts regenerated from the events and identical: ${r.casts.join(", ")}`);
  else if (Object.keys(r.recordings).length) {
    out.push(
      `casts: none in the bundle; regenerated from the verified events for ${Object.keys(r.recordings).join(", ")}`,
    );
  }
  if (r.pending)
    out.push(
      `${r.pending} newer events were not yet covered by the checkpoint and are not included (the exporter's count)`,
    );
  for (const f of r.failures) out.push(`FAILED: ${f.message}`);
  out.push(verdict(r));
  // Hosts, users, panes, keys and messages come from the bundle: escaped before the terminal.
  return out.map(printable);
}

export const verifyBundle: Command = {
  name: "verify-bundle",
  help: `Usage: tmuxtrail verify-bundle FILE --log-key VKEY ...|--log-key-file FILE
                        [--witness-key VKEY ... --quorum K] [--require-closed] [--json]

Checks a session bundle (from tmuxtrail export; formats v1, v2 and v3) with no network: the
checkpoint's log signature and witness quorum, every event's inclusion against that one checkpoint
(v1/v2: a tlog-proof per event; v3: one multi-leaf proof for all events, another for the erasure
events), every content's commitment, that every missing content is named by a verified erasure
event, that each pane's stream is contiguous (complete with a pane-close, else reported open),
that the header (session id, host, server, session, user) is the one the signed events name, that
the session's last index the exporter gives agrees with the events, and that each asciicast
recording in the bundle equals the one regenerated from the verified events (a v3 bundle may
carry none). A bundle with no events fails.

A v3 bundle may be a time window (export --since/--until): every event's own signed time must lie
in [since, until), and each pane's stream must be contiguous from its first seq in the window (from
seq 0 when the window has no --since). The output names the window and, per pane, the first and
last seq: the next window of the same pane starts at last + 1.

Keys given here take precedence over the keys the bundle carries (those are hints: anyone can
write them). The output says which keys were trusted.

${trustHelp}

Exit codes: 0 verified with a key you gave; 1 a check failed (each failure names the event or
stream) or no log key was given; 2 usage error or a file that is not a bundle.`,
  async run(argv) {
    const { values: v, positionals } = parseFlags(
      argv,
      { ...trustFlags, json: { type: "boolean" } },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("expected exactly one FILE");
    const trust = trustOf(v);
    // The helper threads start first: they load while the file is read and parsed.
    // --json prints no recordings: not regenerated (a tenth of the work on a long session).
    const { report } = await withFactsPool((pool) =>
      verifyBundleFile(pool, positionals[0]!, v.json ? { ...trust, recordings: false } : trust),
    );
    if (v.json) {
      // Not the per-event statuses nor the recordings themselves (megabytes for a long session:
      // `export --cast` and `replay` give a pane's recording).
      const { eventStatus: _, recordings: __, ...rest } = report;
      console.log(jsonLine(rest));
    } else console.log(describeReport(report).join("\n"));
    return report.ok ? 0 : 1;
  },
};

/**
 * A bundle file read, parsed and verified (verify-bundle, replay of a file): its bytes shared with
 * the pool's helpers; a file that cannot be read or is not JSON is a usage error.
 */
export function verifyBundleFile(
  pool: FactsPool,
  file: string,
  trust: BundleTrust,
): Promise<{ bundle: AnySessionBundle; report: BundleReport }> {
  const cannot = (e: unknown) => new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw cannot(e);
  }
  const parse = (bytes: Buffer) => {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw cannot(e);
    }
    return parseSessionBundle(value);
  };
  return pool.verifyDocument(bytes, parse, trust);
}

/** --since/--until as the export route takes them: RFC 3339 or a date (YYYY-MM-DD), as UTC ISO. */
export function windowTime(v: string | undefined, flag: string): string | undefined {
  if (v === undefined) return undefined;
  const t = utcTimeOrDate(v);
  if (t === undefined) {
    throw new UsageError(
      `--${flag} must be an RFC 3339 time (2026-11-24T19:00:00Z) or a date (2026-11-24): ${v}`,
    );
  }
  return t;
}

/** The export route's query for the flags: v3 (default) with its window and casts, or v2. */
function exportQuery(v: { format?: string; since?: string; until?: string; casts?: boolean }): {
  query: string;
  format: string;
} {
  const format = v.format ?? "v3";
  if (format !== "v2" && format !== "v3") throw new UsageError("--format must be v2 or v3");
  const since = windowTime(v.since, "since");
  const until = windowTime(v.until, "until");
  if (format === "v2" && (since || until || v.casts)) {
    throw new UsageError(
      "--since, --until and --casts need --format v3 (a v2 bundle is the whole session)",
    );
  }
  if (since && until && since >= until) throw new UsageError("--since must be before --until");
  const q = new URLSearchParams({ format });
  if (since) q.set("since", since);
  if (until) q.set("until", until);
  if (v.casts) q.set("casts", "1");
  return { query: q.toString(), format };
}

export const exportCommand: Command = {
  name: "export",
  help: `Usage: tmuxtrail export ID --log URL --token-file FILE --out FILE [--cast PANE]
                        [--since T] [--until T] [--format v3|v2] [--casts]
                        [--log-key VKEY ...|--log-key-file FILE] [--witness-key VKEY ... --quorum K]
                        [--require-closed] [--max-bytes N] [--json]

Fetches session ID (see tmuxtrail sessions list) as one uncompressed JSON document, a session
bundle v3 (docs/design.md §2.10): its events with their content and salts, the cosigned
checkpoint once, one multi-leaf inclusion proof for all the events against it (a few hashes
between consecutive events), and the log and witness keys. The log streams it; a 100,000-event
session is a few tens of MB. --format v2 writes the older form (a c2sp.org/tlog-proof@v1 per event
and an asciicast per pane; several times larger). The bundle is verified before it is written (as
verify-bundle does; with the keys given here, else the log's); a bundle that does not verify is not
written (exit 1). Without --log-key or --log-key-file the bundle is checked against the key the
log serves only: it is written and said to be unverified (the JSON summary's "verified" is
false). The bundle names the session's last index the log knows of. The export is recorded in the
log as an access event. ID may begin with "-" (ids are base64url).

${trustHelp}

  --since T     only the events whose own signed time is at or after T (RFC 3339, e.g.
                2026-11-24T19:00:00Z, or a date 2026-11-24 meaning its midnight UTC)
  --until T     only the events before T; with --since, T must come after it. A window's
                bundle proves each pane contiguous inside the window; consecutive windows meet
                (the next window of a pane starts at the seq after this one's last)
  --format F    v3 (default) or v2 (the whole session, a tlog-proof per event; no window)
  --casts       v3: also carry each pane's asciicast in the bundle (verified equal to the one
                the events play; by default left out, as every verifier regenerates them)
  --cast PANE   write only that pane's asciicast (e.g. %3), as the verified events play it, to
                --out; play it with \`asciinema play FILE\`
  --out -       write to standard output
${maxBytesHelp}`,
  async run(argv) {
    const { values: v, positionals } = parseIdArgs(argv, {
      ...trustFlags,
      log: { type: "string" },
      "token-file": { type: "string" },
      out: { type: "string" },
      cast: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      format: { type: "string" },
      casts: { type: "boolean" },
      json: { type: "boolean" },
      ...maxBytesFlag,
    });
    if (positionals.length !== 1) throw new UsageError("expected exactly one session ID");
    if (!v.out) throw new UsageError("--out FILE is required");
    const id = positionals[0]!;
    const trust = { ...trustOf(v), sessionId: id };
    const { query } = exportQuery(v);
    const read = bundleRead(v);
    const { bundle, report } = await withFactsPool(async (pool) => {
      // The log streams a v3 answer (chunked, written as it reads): read whole, within the cap.
      const bundle = parseSessionBundle(
        await requestJson<unknown>(
          v.log ?? "http://127.0.0.1:8080",
          `/v1/sessions/${encodeURIComponent(id)}/export?${query}`,
          { token: readToken(v["token-file"]), ...read },
        ),
      );
      return { bundle, report: await pool.verify(bundle, trust) };
    });
    if (!report.consistent) {
      console.error(describeReport(report).join("\n"));
      return 1;
    }
    let text: string;
    if (v.cast !== undefined) {
      const cast = report.recordings[v.cast];
      if (cast === undefined) {
        throw new UsageError(
          `no pane ${v.cast} in this session (panes: ${Object.keys(report.recordings).join(", ") || "none"})`,
        );
      }
      text = cast;
    } else text = `${JSON.stringify(bundle, null, 1)}\n`;
    if (v.out === "-") process.stdout.write(text);
    else {
      writeFileAtomic(v.out, text);
    }
    const summary = {
      ok: true,
      verified: report.ok,
      session: bundle.session.id,
      format: bundle.format,
      ...(report.window && { window: report.window }),
      events: bundle.events.length,
      erased: report.erased.length,
      pending: bundle.pending,
      out: v.out,
    };
    if (v.json) {
      if (v.out !== "-") console.log(jsonLine(summary));
    } else if (v.out !== "-") {
      console.error(describeReport(report).join("\n"));
      console.error(printable(`wrote ${v.out}`));
    } else if (!report.ok) console.error(verdict(report));
    return 0;
  },
};
