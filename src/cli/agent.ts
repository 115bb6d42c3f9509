// `tmuxtrail agent`: capture a tmux server into the log; `agent shell-hook bash|zsh`; `agent status`.

import { existsSync, readFileSync } from "node:fs";
import { homedir, hostname, userInfo } from "node:os";
import { join } from "node:path";
import { startAgent } from "../agent/agent.ts";
import { DEFAULT_PATTERNS, type RedactionPattern } from "../agent/redact.ts";
import { SHELL_HOOKS } from "../agent/shell-hook.ts";
import { parseVerifierKey } from "../log/keys.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

const defaultSpool = () => join(homedir(), ".local", "state", "tmuxtrail", "spool");

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--spool-cap: "${s}" is not a size like 512MiB or 2GiB`);
  const unit = (m[2] ?? "").toUpperCase().replace(/I?B$/, "");
  return (
    Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[unit]!
  );
}

export const agent: Command = {
  name: "agent",
  summary: "capture a tmux server's panes, commands and lifecycle into a log",
  help: `Usage:
  tmuxtrail agent --log URL --token-file FILE [--host NAME] [-L NAME | -S PATH] [--spool DIR]
  tmuxtrail agent shell-hook bash|zsh      print the shell hook that records commands
  tmuxtrail agent status [--spool DIR]     connected panes, spool depth, last index, receipts

Captures every pane of one tmux server (the default socket, -L NAME or -S PATH): pane output
(through pipe-pane into per-pane files in the spool, so capture survives agent restarts), what
panes already show when capture starts, session/window/pane lifecycle, attach/detach, and the
commands the shell hook records. Secrets are redacted on this host before events are formed.
Every event is fsynced to the spool before it counts as captured and leaves it only when the
log acknowledged it; when the log is down the spool grows to --spool-cap, then capture pauses
(nothing is dropped) and the agent says so.

Flags:
  --log URL            the log (required)
  --token-file FILE    a submit key bound to this host (required)
  --host NAME          this host's name in events (default: the hostname; must match the key)
  -L NAME, -S PATH     the tmux server's socket name or path
  --spool DIR          spool directory (default ~/.local/state/tmuxtrail/spool)
  --spool-cap SIZE     most unacknowledged bytes before capture pauses (default 1GiB)
  --log-key VKEY       the log's verifier key: receipts are then proven included from the tiles
  --redact KIND=REGEX  an extra redaction pattern, repeatable (defaults: ${DEFAULT_PATTERNS.map((p) => p.kind).join(", ")})

Install the shell hook (in ~/.bashrc or ~/.zshrc, for shells started inside tmux):
  eval "$(tmuxtrail agent shell-hook bash)"`,
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
      if (v.json) console.log(JSON.stringify(s));
      else {
        const age = (Date.now() - Date.parse(s.updated)) / 1000;
        console.log(
          `agent pid ${s.pid}, status ${age.toFixed(0)} s old${age > 10 ? " (STALE: is the agent running?)" : ""}`,
        );
        console.log(
          `tmux server      ${s.server}: ${s.panes.length} pane(s) captured (${s.panes.join(" ")})`,
        );
        console.log(
          `log              ${s.log} ${s.connected ? "connected" : `NOT CONNECTED${s.lastError ? `: ${s.lastError}` : ""}`}`,
        );
        console.log(
          `spool            ${s.unsentEvents} event(s), ${s.spoolDepthBytes} bytes not yet acknowledged`,
        );
        console.log(`last acknowledged index ${s.lastAckedIndex ?? "-"}`);
        console.log(
          `receipts         ${s.receipts.total} total, ${s.receipts.proven} proven included, ${s.receipts.unproven} not yet proven, ${s.receipts.failed} FAILED`,
        );
      }
      return 0;
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
    const spoolDir = v.spool ?? defaultSpool();
    const running = await startAgent({
      logUrl: v.log,
      token,
      logKey: v["log-key"] ? parseVerifierKey(v["log-key"]) : undefined,
      host: v.host ?? hostname(),
      user: userInfo().username,
      target: { name: v.L, path: v.S },
      spoolDir,
      spoolCapBytes: parseSize(v["spool-cap"] ?? "1GiB"),
      patterns: [...DEFAULT_PATTERNS, ...extra],
      tickMs: 50,
    });
    console.log(`tmuxtrail agent capturing into ${spoolDir}, sending to ${v.log}`);
    await new Promise<void>((resolve) => {
      const stop = () => running.close().then(resolve, resolve);
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    return 0;
  },
};
