// The shape of a CLI command and the exit-code contract (docs/design.md §8.1): 0 when what the command
// checks holds, 1 when a verification fails, 2 for usage errors, unreachable services and malformed
// input. Commands throw UsageError for bad flags; main.ts maps errors to codes in one place.

import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "../core/errors.ts";
import { SESSION_ID_RE } from "../core/session-id.ts";

export { UsageError };

export const EXIT_OK = 0;
export const EXIT_VERIFY_FAILED = 1;
export const EXIT_USAGE = 2;

export interface Command {
  name: string;
  /** Full help text: usage line, flags, examples. */
  help: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs with strict flags, turning its errors into UsageError. */
export function parseFlags<O extends Options>(
  argv: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: dashedIdValues(argv, options),
      options,
      allowPositionals,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * `--flag VALUE` as `--flag=VALUE` when a string flag's value is a session id beginning with "-"
 * (22 base64url characters: about one id in 32), which parseArgs would otherwise refuse as
 * "ambiguous" (`erase --session -Qx3f…`). Any other value beginning with "-" is left to parseArgs.
 */
function dashedIdValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const option = a.startsWith("--") ? options[a.slice(2)] : undefined;
    if (option?.type === "string" && next?.startsWith("-") && SESSION_ID_RE.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function wantsHelp(argv: string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/** Waits `ms`, or less when `signal` aborts (a command's SIGINT/SIGTERM). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
