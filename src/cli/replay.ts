// `tmuxtrail replay <session>|FILE`: plays a pane of a recorded session in this terminal, with its
// timing, from the log (exported on the fly) or from a bundle file, after verifying the bundle as
// verify-bundle does. A bundle that is not verified (a check failed, or no log key was given) is
// not played unless --no-verify, and then the exit code is still 1. What is played passes through
// TerminalFilter (src/core/terminal-filter.ts) unless --raw: no clipboard, title, query or
// reporting sequence from the log reaches the terminal.

import { existsSync } from "node:fs";
import { printable } from "../core/printable.ts";
import { parseSessionBundle } from "../core/session-bundle.ts";
import { TerminalFilter } from "../core/terminal-filter.ts";
import { withFactsPool } from "../lib/bundle-facts-pool.ts";
import {
  describeReport,
  parseIdArgs,
  trustFlags,
  trustHelp,
  trustOf,
  verdict,
  verifyBundleFile,
} from "./bundle.ts";
import { type Command, UsageError } from "./command.ts";
import { readToken, requestJson } from "./log-api.ts";
import { bundleRead, maxBytesFlag, maxBytesHelp } from "./read-limits.ts";

export const replay: Command = {
  name: "replay",
  help: `Usage: tmuxtrail replay SESSION_ID|FILE [--pane ID] [--speed X] [--idle-limit S] [--no-verify] [--raw]
                        [--log URL --token-file FILE] [--log-key VKEY ...|--log-key-file FILE]
                        [--witness-key VKEY ... --quorum K] [--require-closed] [--max-bytes N]

Plays one pane's recording (its asciicast) with its original timing. SESSION_ID is fetched from
the log (an export, recorded there as an access event; it may begin with "-"); FILE is a bundle
from tmuxtrail export. The bundle is verified first, with the keys given here; without a log key
it is checked against the key it carries only, which proves nothing: replay then refuses (exit 1),
as it does when verification fails, unless --no-verify (it plays, marked NOT VERIFIED, and still
exits 1).

${trustHelp}

  --pane ID        which pane (default: the first; the panes are listed on stderr)
  --speed X        playback speed (default 1)
  --idle-limit S   shorten pauses longer than S seconds to S (default 2; 0 = keep them)
  --no-verify      play a bundle that is not verified (exit 1 all the same)
  --raw            play every byte as recorded; by default clipboard (OSC 52), title (OSC 0/1/2),
                   every other OSC, DCS, APC, PM and SOS string, queries that make the terminal
                   answer (DSR, DA, DECRQM, window reports) and mouse or focus reporting modes are
                   left out
${maxBytesHelp}`,
  async run(argv) {
    const { values: v, positionals } = parseIdArgs(argv, {
      ...trustFlags,
      pane: { type: "string" },
      speed: { type: "string" },
      "idle-limit": { type: "string" },
      "no-verify": { type: "boolean" },
      raw: { type: "boolean" },
      log: { type: "string" },
      "token-file": { type: "string" },
      ...maxBytesFlag,
    });
    if (positionals.length !== 1) throw new UsageError("expected a session id or a bundle FILE");
    const speed = Number(v.speed ?? 1);
    const idle = Number(v["idle-limit"] ?? 2);
    if (!(speed > 0)) throw new UsageError("--speed must be a positive number");
    if (!(idle >= 0)) throw new UsageError("--idle-limit must be a number of seconds ≥ 0");
    const trust = trustOf(v);
    const what = positionals[0]!;
    const { bundle, report } = await withFactsPool(async (pool) => {
      if (existsSync(what)) return verifyBundleFile(pool, what, trust);
      // v3: the checkpoint once and a few hashes per event (v2 repeats both in every event).
      const value = await requestJson(
        v.log ?? "http://127.0.0.1:8080",
        `/v1/sessions/${encodeURIComponent(what)}/export?format=v3`,
        { token: readToken(v["token-file"]), ...bundleRead(v) },
      );
      const bundle = parseSessionBundle(value);
      return { bundle, report: await pool.verify(bundle, { ...trust, sessionId: what }) };
    });
    if (!report.ok && !v["no-verify"]) {
      console.error(describeReport(report).join("\n"));
      console.error("not replaying a session that is not verified (--no-verify to play it anyway)");
      return 1;
    }
    // What the verified events play (the bundle's casts, when it has them, were checked equal);
    // with --no-verify on a bundle that fails, its own casts when it has them.
    const casts = report.ok ? report.recordings : (bundle.casts ?? report.recordings);
    const panes = Object.keys(casts);
    const pane = v.pane ?? panes[0];
    if (pane === undefined) throw new UsageError("this session recorded no pane output");
    const cast = casts[pane];
    if (cast === undefined) {
      throw new UsageError(`no pane ${pane} in this session (panes: ${panes.join(", ")})`);
    }
    if (!report.ok) console.error(printable(verdict(report)));
    console.error(
      printable(
        `${report.ok ? "verified" : "NOT VERIFIED"}: ${bundle.session.user}@${bundle.session.host} session ${bundle.session.session}, pane ${pane} of ${panes.join(", ")}${v.raw ? " (raw)" : ""}`,
      ),
    );
    await play(cast, speed, idle, v.raw ? undefined : new TerminalFilter());
    return report.ok ? 0 : 1;
  },
};

async function play(
  cast: string,
  speed: number,
  idleLimit: number,
  filter: TerminalFilter | undefined,
): Promise<void> {
  const lines = cast.split("\n").filter(Boolean).slice(1);
  let prev = 0;
  for (const line of lines) {
    const [t, code, data] = JSON.parse(line) as [number, string, string];
    let gap = Math.max(0, t - prev);
    if (idleLimit > 0) gap = Math.min(gap, idleLimit);
    prev = t;
    if (gap > 0) await new Promise((r) => setTimeout(r, (gap * 1000) / speed));
    if (code === "o") process.stdout.write(filter ? filter.push(data) : data);
  }
  process.stdout.write(`${filter?.end() ?? ""}\r\n`);
}
