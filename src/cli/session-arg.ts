// Session ids as command-line arguments. An id is 22 base64url characters (src/core/session-id.ts),
// so about one in 32 begins with "-", and a few with "--": node's parseArgs would read such an id
// as a flag ("Unknown option '-Qx…'"). `idsAsPositionals` moves every argument that is a session
// id, and not the value of the flag before it nor a flag of the command, behind a "--", so
// `tmuxtrail export -Qx3f… --out f` works as `tmuxtrail export --out f -- -Qx3f…` does.
//
// Example: with flags {out: string}, ["--out", "-AAAAAAAAAAAAAAAAAAAAA", "-BBBBBBBBBBBBBBBBBBBBB"]
// becomes ["--out", "-AAAAAAAAAAAAAAAAAAAAA", "--", "-BBBBBBBBBBBBBBBBBBBBB"]: the first is the
// value of --out, the second an id.

import type { ParseArgsConfig } from "node:util";
import { SESSION_ID_RE } from "../core/session-id.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function idsAsPositionals(argv: readonly string[], options: Options): string[] {
  const flags: string[] = [];
  const ids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      ids.push(...argv.slice(i + 1));
      break;
    }
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    const option = name !== undefined ? options[name] : undefined;
    if (option) {
      flags.push(a);
      // A string flag's value is the next argument, whatever it looks like.
      if (option.type === "string" && i + 1 < argv.length) flags.push(argv[++i]!);
    } else if (a.startsWith("-") && SESSION_ID_RE.test(a)) ids.push(a);
    else flags.push(a);
  }
  return ids.length ? [...flags, "--", ...ids] : flags;
}
