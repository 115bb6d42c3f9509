// `tmuxtrail agent`: capture a tmux server into the log; `agent shell-hook bash|zsh`; `agent status`.

import { existsSync, readFileSync } from "node:fs";
import { homedir, hostname, userInfo } from "node:os";
import { join } from "node:path";
import { startAgent } from "../agent/agent.ts";
import { checkKeyHost } from "../agent/key-host.ts";
import { DEFAULT_PATTERNS, type RedactionPattern } from "../agent/redact.ts";
import { SHELL_HOOKS } from "../agent/shell-hook.ts";
import {
  cosignatureVerifierKey,
  parseLogVerifierKey,
  parseVerifierKey,
  type Verifier,
} from "../core/keys.ts";
import { quorumWarning } from "../core/quorum.ts";
import { parseDuration } from "../server/config.ts";
import { type Command, EXIT_OK, EXIT_VERIFY_FAILED, parseFlags, UsageError } from "./command.ts";

const defaultSpool = () => join(homedir(), ".local", "state", "tmuxtrail", "spool");

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--spool-cap: "${s}" is not a size like 512MiB or 2GiB`);
  const unit = (m[2] ?? "").toUpperCase().replace(/I?B$/, "");
  return (
    Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[unit]!
  );
}

/**
 * `--witness VKEY` (repeatable, the 0x04 cosignature key or the witness's 0x01 key) and
 * `--witness-quorum K`: K defaults to every witness given; 1 <= K <= the number of witnesses.
 */
export function readWitnesses(v: {
  witness?: string[];
  "witness-quorum"?: string;
  "log-key"?: string;
}): { witnesses: Verifier[]; quorum: number } | undefined {
  const keys = v.witness ?? [];
  if (keys.length === 0) {
    if (v["witness-quorum"] !== undefined)
      throw new UsageError("--witness-quorum K needs at least K --witness VKEY");
    return undefined;
  }
  if (!v["log-key"])
    throw new UsageError(
      "--witness needs --log-key: witnesses only matter to receipts proven against the log's checkpoints",
    );
  const witnesses = keys.map((k) => {
    try {
      return parseVerifierKey(cosignatureVerifierKey(k));
    } catch (e) {
      throw new UsageError(`--witness ${k}: ${(e as Error).message}`);
    }
  });
  if (new Set(witnesses.map((w) => w.key)).size !== witnesses.length)
    throw new UsageError("--witness: the same witness is given twice");
  let quorum = witnesses.length;
  const k = v["witness-quorum"];
  if (k !== undefined) {
    if (!/^\d+$/.test(k)) throw new UsageError(`--witness-quorum "${k}" is not a whole number`);
    quorum = Number(k);
    if (quorum < 1 || quorum > witnesses.length)
      throw new UsageError(
        `--witness-quorum ${quorum}: give a number from 1 to ${witnesses.length} (the witnesses given)`,
      );
  }
  return { witnesses, quorum };
}

export const agent: Command = {
  name: "agent",
  help: `Usage:
  tmuxtrail agent --log URL --token-file FILE [--host NAME] [-L NAME | -S PATH] [--spool DIR]
  tmuxtrail agent shell-hook bash|zsh      print the shell hook that records commands
  tmuxtrail agent status [--spool DIR] [--json]
                                           connected panes, spool depth, last index, receipts;
                                           exit 1 when the status shows a FAILED check or a
                                           pane whose output is NOT ARRIVING

Captures every pane of one tmux server (the default socket, -L NAME or -S PATH): pane output
(through pipe-pane into per-pane files in the spool, so capture survives agent restarts), what
panes already show when capture starts, session/window/pane lifecycle, attach/detach, and the
commands the shell hook records. Secrets are redacted on this host before events are formed.
Every event is fsynced to the spool before it counts as captured and leaves it only when the
log acknowledged it; when the log is down the spool grows to --spool-cap, then capture pauses
(nothing is dropped) and the agent says so.

With no tmux server running yet the agent waits for it ("waiting for the tmux server at SOCKET",
also in its status), polling each second, and again when the server goes away. Exit 2 at start: a tmux server of another user (run the
agent as that user), a key bound to another host, or a spool holding unsent events of another
host (run with that --host until they are sent, or move the spool aside). A key found bound to
another host later (403 wrong-host) is FAILED in the status, events kept, retried every 60 s.

Flags:
  --log URL            the log (required)
  --token-file FILE    a submit key bound to this host (required)
  --host NAME          this host's name in events (default: the hostname; must match the key)
  -L NAME, -S PATH     the tmux server's socket name or path
  --spool DIR          spool directory (default ~/.local/state/tmuxtrail/spool)
  --spool-cap SIZE     most unacknowledged bytes before capture pauses (default 1GiB)
  --log-key VKEY       the log's verifier key: receipts are then proven included from the tiles
  --witness VKEY       a witness's cosignature key (0x04, or its 0x01 key), repeatable: receipts
                       are then proven only against checkpoints the quorum of them cosigned
  --witness-quorum K   how many of the --witness keys must have cosigned (default: all of them)
  --timeout D          per request for the log's checkpoint and tiles (default 10s)
  --redact KIND=REGEX  an extra redaction pattern, repeatable (defaults: ${DEFAULT_PATTERNS.map((p) => p.kind).join(", ")})

Acknowledgements and receipts: the agent computes each event's leaf hash itself; an answer of the
log counts only when it holds one acknowledgement per event, in order, naming that hash, at an
index no other acknowledged leaf holds. Anything else is refused: the events stay in the spool,
the status says FAILED and the agent logs an ALARM line, then retries. With --log-key, every
receipt is proven included in a signed checkpoint, from the log's hash tiles; the last verified
checkpoint is kept in <spool>/checkpoint and each newer one must extend it (a rollback or a fork
is FAILED). A log or tile that cannot be fetched leaves receipts "not yet proven", retried.

Install the shell hook as a file, loaded by ~/.bashrc (or ~/.zshrc) in shells started inside tmux:
  tmuxtrail agent shell-hook bash > ~/.config/tmuxtrail/hook.bash
  echo '[ -r ~/.config/tmuxtrail/hook.bash ] && . ~/.config/tmuxtrail/hook.bash' >> ~/.bashrc`,
  async run(argv) {
    if (argv[0] === "shell-hook") {
      const shell = argv[1];
      if (shell !== "bash" && shell !== "zsh") throw new UsageError("shell-hook takes bash or zsh");
      process.stdout.write(SHELL_HOOKS[shell]);
      return 0;
    }
    if (argv[0] === "status") {
      const { values: v } = parseFlags(argv.slice(1), {
        spool: { type: "string" },
        json: { type: "boolean" },
      });
      const file = join(v.spool ?? defaultSpool(), "status.json");
      if (!existsSync(file))
        throw new UsageError(
          `no agent status in ${file} (is the agent running with this --spool?)`,
        );
      const s = JSON.parse(readFileSync(file, "utf8"));
      const states = (s.paneStates ?? {}) as Record<string, string>;
      const notArriving = Object.values(states).some((x) => x !== "captured");
      const failed = Boolean(
        s.sendFailed || s.receipts?.failed || s.receipts?.alarm || notArriving,
      );
      if (v.json) console.log(JSON.stringify(s));
      else {
        const age = (Date.now() - Date.parse(s.updated)) / 1000;
        console.log(
          `agent pid ${s.pid}, status ${age.toFixed(0)} s old${age > 10 ? " (STALE: is the agent running?)" : ""}`,
        );
        if (s.waiting) console.log(`tmux server      ${s.waiting}`);
        else
          console.log(
            `tmux server      ${s.server}: ${s.panes.length} pane(s) captured (${s.panes.join(" ")})`,
          );
        for (const [pane, state] of Object.entries(states))
          if (state !== "captured") console.log(`pane ${pane.padEnd(11)} ${state}`);
        console.log(
          `log              ${s.log} ${s.connected ? "connected" : `NOT CONNECTED${s.lastError ? `: ${s.lastError}` : ""}`}`,
        );
        console.log(
          `spool            ${s.unsentEvents} event(s), ${s.spoolDepthBytes} bytes not yet acknowledged`,
        );
        console.log(`last acknowledged index ${s.lastAckedIndex ?? "-"}`);
        if (s.wrongHost) console.log(`sending          FAILED: ${s.sendFailed}`);
        else if (s.sendFailed)
          console.log(
            `sending          FAILED: the log's last answer was refused: ${s.sendFailed} (${s.refusedAnswers} refused; the events stay in the spool)`,
          );
        console.log(
          `receipts         ${s.receipts.total} total, ${s.receipts.proven} proven included, ${s.receipts.unproven} not yet proven, ${s.receipts.failed} FAILED`,
        );
        if (s.receipts.waiting) console.log(`                 ${s.receipts.waiting}`);
        const cp = s.receipts.checkpoint;
        console.log(
          `checkpoint       ${cp ? `size ${cp.size} verified, root ${cp.root}${cp.cosignatures ? `, ${cp.cosignatures} cosignature(s)` : ""}` : "none verified yet"}${s.witnessQuorum ? ` (quorum: ${s.witnessQuorum.k} of ${s.witnessQuorum.n} witnesses)` : ""}`,
        );
        if (s.receipts.alarm) console.log(`ALARM            FAILED: ${s.receipts.alarm}`);
      }
      return failed ? EXIT_VERIFY_FAILED : EXIT_OK;
    }
    const { values: v } = parseFlags(argv, {
      log: { type: "string" },
      "token-file": { type: "string" },
      host: { type: "string" },
      L: { type: "string", short: "L" },
      S: { type: "string", short: "S" },
      spool: { type: "string" },
      "spool-cap": { type: "string" },
      "log-key": { type: "string" },
      witness: { type: "string", multiple: true },
      "witness-quorum": { type: "string" },
      timeout: { type: "string" },
      redact: { type: "string", multiple: true },
    });
    if (!v.log) throw new UsageError("--log URL is required");
    if (!v["token-file"]) throw new UsageError("--token-file FILE is required");
    if (v.L && v.S) throw new UsageError("give -L NAME or -S PATH, not both");
    let token: string;
    try {
      token = readFileSync(v["token-file"], "utf8").trim();
    } catch (e) {
      throw new UsageError(`cannot read ${v["token-file"]}: ${(e as Error).message}`);
    }
    const extra: RedactionPattern[] = (v.redact ?? []).map((spec) => {
      const eq = spec.indexOf("=");
      if (eq <= 0) throw new UsageError(`--redact ${spec}: expected KIND=REGEX`);
      try {
        return { kind: spec.slice(0, eq), re: new RegExp(spec.slice(eq + 1), "g") };
      } catch (e) {
        throw new UsageError(`--redact ${spec}: ${(e as Error).message}`);
      }
    });
    const witnessed = readWitnesses(v);
    const qw = witnessed && quorumWarning(witnessed.quorum, witnessed.witnesses.length);
    if (qw) console.error(`tmuxtrail agent: warning: ${qw}`);
    let readTimeoutMs: number | undefined;
    if (v.timeout !== undefined) {
      try {
        readTimeoutMs = parseDuration(v.timeout, "--timeout");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (readTimeoutMs <= 0) throw new UsageError("--timeout must be longer than 0");
    }
    const spoolDir = v.spool ?? defaultSpool();
    const host = v.host ?? hostname();
    // Before anything is spooled: a key bound to another host is exit 2 with the fix.
    const keyHost = await checkKeyHost(v.log, token, host);
    if (!keyHost.checked) {
      console.error(
        `tmuxtrail agent: could not check the key's host at start (${keyHost.why}); spooling as host "${host}", checked again once the log answers`,
      );
    }
    const running = await startAgent({
      logUrl: v.log,
      token,
      logKey: v["log-key"] ? parseLogVerifierKey(v["log-key"]) : undefined,
      witnesses: witnessed?.witnesses,
      witnessQuorum: witnessed?.quorum,
      readTimeoutMs,
      host,
      keyHostChecked: keyHost.checked,
      user: userInfo().username,
      target: { name: v.L, path: v.S },
      spoolDir,
      spoolCapBytes: parseSize(v["spool-cap"] ?? "1GiB"),
      patterns: [...DEFAULT_PATTERNS, ...extra],
      tickMs: 50,
    });
    // Until SIGTERM/SIGINT (exit 0) or a tmux server it must refuse (exit 2). The handlers are in
    // place before the agent says it started.
    const ended = new Promise<number>((resolve, reject) => {
      let signalled = false;
      const stop = () => {
        signalled = true;
        running.close().then(() => resolve(EXIT_OK), reject);
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      running.done.then(
        () => {
          if (!signalled) running.close().then(() => resolve(EXIT_VERIFY_FAILED), reject);
        },
        (e) => {
          if (!signalled) running.close().then(() => reject(e), reject);
        },
      );
    });
    console.log(`tmuxtrail agent capturing into ${spoolDir}, sending to ${v.log}`);
    return await ended;
  },
};
