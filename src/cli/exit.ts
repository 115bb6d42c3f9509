// The one rule from an error to an exit code (and the JSON error object of --json output): 0 ok,
// 1 a verification failed, 2 a usage error, an unreachable service or malformed input (a note, a
// key, a tile that does not parse: nothing was verified). main.ts and every command's --json use it.

import { LogSourceError } from "../client/log-source.ts";
import { isTrailError } from "../core/errors.ts";
import { EXIT_USAGE, EXIT_VERIFY_FAILED, UsageError } from "./command.ts";
import { ServiceError } from "./log-api.ts";

/** Exit code and JSON error object of an error. */
export function classify(e: unknown): { exit: number; error: { code: string; message: string } } {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof UsageError) return { exit: EXIT_USAGE, error: { code: "usage", message } };
  if (e instanceof LogSourceError) return { exit: EXIT_USAGE, error: { code: e.kind, message } };
  if (e instanceof ServiceError)
    return { exit: EXIT_USAGE, error: { code: "unreachable", message } };
  if (isTrailError(e)) {
    const malformed = e.code === "malformed" || e.code === "bad-key";
    return { exit: malformed ? EXIT_USAGE : EXIT_VERIFY_FAILED, error: { code: e.code, message } };
  }
  return { exit: EXIT_USAGE, error: { code: "error", message } };
}
