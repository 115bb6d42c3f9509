// `tmuxtrail keygen <name> --out FILE`: a new Ed25519 signer key (Go sumdb/note format), written
// with mode 600; prints the note verifier key and the cosignature/v1 verifier key (docs/design.md §2.5).

import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { generateKey } from "../core/keys.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

export const keygen: Command = {
  name: "keygen",
  help: `Usage: tmuxtrail keygen <name> --out FILE [--force]

Creates an Ed25519 signer key named <name> (for a log, usually its origin, e.g.
tmuxtrail.example/log) and writes it to FILE with mode 600. Prints:
  vkey        the verifier key, for checking the log's checkpoints (--log-key)
  cosig-vkey  the cosignature/v1 verifier key, for naming this key as a witness (--witness-key)

Flags:
  --out FILE   where to write the signer key (required; refuses to overwrite)
  --force      overwrite FILE if it exists
  --json       print {"name","vkey","cosigVkey","file"} as one JSON object`,
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { out: { type: "string" }, force: { type: "boolean" }, json: { type: "boolean" } },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("expected exactly one <name>");
    if (!values.out) throw new UsageError("--out FILE is required");
    const name = positionals[0]!;
    const key = generateKey(name, new Uint8Array(randomBytes(32)));
    try {
      writeFileSync(values.out, `${key.signerKey}\n`, {
        mode: 0o600,
        flag: values.force ? "w" : "wx",
      });
      chmodSync(values.out, 0o600); // an overwritten file would keep its old mode
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST")
        throw new UsageError(`${values.out} exists (use --force to overwrite)`);
      throw new UsageError(`cannot write ${values.out}: ${(e as Error).message}`);
    }
    if (values.json) {
      console.log(
        JSON.stringify({
          name,
          vkey: key.verifierKey,
          cosigVkey: key.cosignatureVerifierKey,
          file: values.out,
        }),
      );
    } else {
      console.log(`signer key written to ${values.out} (mode 600)`);
      console.log(`vkey        ${key.verifierKey}`);
      console.log(`cosig-vkey  ${key.cosignatureVerifierKey}`);
    }
    return 0;
  },
};
