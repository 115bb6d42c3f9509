// tmuxtrail command line: a table of commands, one module each, and the one place where errors
// become exit codes (0 ok, 1 verification failed, 2 usage / unreachable / malformed input).

import { isTrailError } from "../core/errors.ts";
import { printable } from "../core/printable.ts";
import { type Command, EXIT_USAGE, UsageError, wantsHelp } from "./command.ts";
import { classify } from "./exit.ts";

/**
 * The commands, each by name with its one-line summary. A command's module (its flags, help and
 * run) is loaded when it is asked for, so a command loads the libraries it uses and not the
 * server's: the built CLI is split into chunks (scripts/build-cli.mjs), and `verify-bundle` starts
 * without loading PostgreSQL's driver, PGlite, drizzle or hono.
 */
const commands: { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: "serve",
    summary: "run the log: sequencing, checkpoints, tlog-tiles and proof API",
    load: async () => (await import("./serve.ts")).serve,
  },
  {
    name: "migrate",
    summary: "apply the PostgreSQL migrations as the owner role; grant a runtime role its rights",
    load: async () => (await import("./migrate.ts")).migrate,
  },
  {
    name: "keygen",
    summary: "create an Ed25519 signer key for a log or a witness",
    load: async () => (await import("./keygen.ts")).keygen,
  },
  {
    name: "keys",
    summary: "create, list and revoke API keys of a running log",
    load: async () => (await import("./keys.ts")).keys,
  },
  {
    name: "witness",
    summary: "run a witness: cosign consistent checkpoints, gossip with peers, catch forks",
    load: async () => (await import("./witness.ts")).witness,
  },
  {
    name: "verify-evidence",
    summary: "re-check a witness's fork evidence offline with the log's verifier key",
    load: async () => (await import("./verify-evidence.ts")).verifyEvidenceCommand,
  },
  {
    name: "agent",
    summary: "capture a tmux server's panes, commands and lifecycle into a log",
    load: async () => (await import("./agent.ts")).agent,
  },
  {
    name: "sessions",
    summary: "list the tmux sessions a log holds (filter by host, user, time, command)",
    load: async () => (await import("./sessions.ts")).sessions,
  },
  {
    name: "export",
    summary: "export a session (or a time window of it) as a bundle that verifies offline",
    load: async () => (await import("./bundle.ts")).exportCommand,
  },
  {
    name: "verify-bundle",
    summary:
      "verify an exported session bundle offline (proofs, commitments, quorum, streams, casts)",
    load: async () => (await import("./bundle.ts")).verifyBundle,
  },
  {
    name: "erase",
    summary: "erase session content (payloads only), recorded as erasure events",
    load: async () => (await import("./erase.ts")).eraseCommand,
  },
  {
    name: "audit",
    summary:
      "recompute every hash of the log and check leaves, tiles, checkpoints, streams, payloads",
    load: async () => (await import("./audit.ts")).audit,
  },
  {
    name: "verify",
    summary: "verify a log's checkpoint, a leaf's inclusion or consistency, from its tiles",
    load: async () => (await import("./verify.ts")).verify,
  },
  {
    name: "monitor",
    summary: "watch a log for rollbacks and forks, keeping the last verified checkpoint",
    load: async () => (await import("./monitor.ts")).monitor,
  },
  {
    name: "tail",
    summary: "stream verified events as JSON lines (for a SIEM), each proven included first",
    load: async () => (await import("./tail.ts")).tail,
  },
  {
    name: "replay",
    summary: "play a recorded pane in the terminal, from the log or a bundle, after verifying it",
    load: async () => (await import("./replay.ts")).replay,
  },
  {
    name: "mirror",
    summary: "copy a log's checkpoint and tiles, verified, into a directory for a static server",
    load: async () => (await import("./mirror.ts")).mirror,
  },
  {
    name: "ui",
    summary: "serve this installation's web UI on this machine, reading a log's API",
    load: async () => (await import("./ui.ts")).uiCommand,
  },
];

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "tmuxtrail: a tamper-evident audit trail for tmux (an RFC 6962 Merkle-tree log)",
    "",
    "Usage: tmuxtrail <command> [flags]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `tmuxtrail <command> --help` for a command's flags.",
    "Exit codes: 0 ok, 1 verification failed, 2 usage error, unreachable service or malformed input.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`tmuxtrail: unknown command "${name}"\n\n${overview()}`);
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (wantsHelp(rest)) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    // Messages may quote what a log, a bundle or a leaf said: escaped before the terminal. A
    // usage error shows the command's help; anything else is one line (a log that is unreachable
    // or answers 404 or 401 too: the flags were fine).
    const { exit, error } = classify(e);
    const text = printable(error.message);
    if (e instanceof UsageError) console.error(`tmuxtrail ${name}: ${text}\n\n${command.help}`);
    else if (isTrailError(e)) console.error(`tmuxtrail ${name}: ${error.code}: ${text}`);
    else console.error(`tmuxtrail ${name}: ${text}`);
    return exit;
  }
}
