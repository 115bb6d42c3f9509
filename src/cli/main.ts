// tmuxtrail command line: a table of commands, one module each, and the one place where errors
// become exit codes (0 ok, 1 verification failed, 2 usage / unreachable / malformed input).

import { isTrailError } from "../core/errors.ts";
import { printable } from "../core/printable.ts";
import { agent } from "./agent.ts";
import { audit } from "./audit.ts";
import { exportCommand, verifyBundle } from "./bundle.ts";
import { type Command, EXIT_USAGE, EXIT_VERIFY_FAILED, UsageError, wantsHelp } from "./command.ts";
import { eraseCommand } from "./erase.ts";
import { keygen } from "./keygen.ts";
import { keys } from "./keys.ts";
import { ServiceError } from "./log-api.ts";
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
    // Messages may quote what a log, a bundle or a leaf said: escaped before the terminal.
    // A log that is unreachable or answers an error (404, 401) is one line: the flags were fine.
    if (e instanceof ServiceError) {
      console.error(`tmuxtrail ${name}: ${printable(e.message)}`);
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      console.error(`tmuxtrail ${name}: ${printable(e.message)}\n\n${command.help}`);
      return EXIT_USAGE;
    }
    if (isTrailError(e)) {
      // Parse failures of input are exit 2; failed verifications are exit 1.
      const malformed = e.code === "malformed" || e.code === "bad-key";
      console.error(`tmuxtrail ${name}: ${e.code}: ${printable(e.message)}`);
      return malformed ? EXIT_USAGE : EXIT_VERIFY_FAILED;
    }
    console.error(`tmuxtrail ${name}: ${printable(String((e as Error)?.message ?? e))}`);
    return EXIT_USAGE;
  }
}
