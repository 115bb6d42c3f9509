// tmuxtrail command line: a table of commands, one module each, and the one place where errors
// become exit codes (0 ok, 1 verification failed, 2 usage / unreachable / malformed input).

import { isTrailError } from "../core/errors.ts";
import { printable } from "../core/printable.ts";
import { agent } from "./agent.ts";
import { audit } from "./audit.ts";
import { exportCommand, verifyBundle } from "./bundle.ts";
import { type Command, EXIT_USAGE, UsageError, wantsHelp } from "./command.ts";
import { eraseCommand } from "./erase.ts";
import { classify } from "./exit.ts";
import { keygen } from "./keygen.ts";
import { keys } from "./keys.ts";
import { migrate } from "./migrate.ts";
import { mirror } from "./mirror.ts";
import { monitor } from "./monitor.ts";
import { replay } from "./replay.ts";
import { serve } from "./serve.ts";
import { sessions } from "./sessions.ts";
import { tail } from "./tail.ts";
import { uiCommand } from "./ui.ts";
import { verify } from "./verify.ts";
import { verifyEvidenceCommand } from "./verify-evidence.ts";
import { witness } from "./witness.ts";

const commands: Command[] = [
  serve,
  migrate,
  keygen,
  keys,
  witness,
  verifyEvidenceCommand,
  agent,
  sessions,
  exportCommand,
  verifyBundle,
  eraseCommand,
  audit,
  verify,
  monitor,
  tail,
  replay,
  mirror,
  uiCommand,
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
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`tmuxtrail: unknown command "${name}"\n\n${overview()}`);
    return EXIT_USAGE;
  }
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
