// `tmuxtrail verify-evidence FILE --log-key VKEY`: re-checks fork evidence offline.

import { readFileSync } from "node:fs";
import { parseLogVerifierKey } from "../core/keys.ts";
import { verifyEvidence } from "../witness/evidence.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

export const verifyEvidenceCommand: Command = {
  name: "verify-evidence",
  help: `Usage: tmuxtrail verify-evidence FILE --log-key VKEY [--log-key VKEY ...] [--json]

FILE holds what a witness serves on GET /v1/evidence: one evidence object or an array of them.
Each must show two checkpoints validly signed by the log key that cannot both be true:
  same-size-different-root  the same size with different roots;
  inconsistent              sizes m < n and a consistency proof that reproduces the signed root
                            of size n exactly and implies, at size m, a root other than the signed
                            one (for a power-of-two m the proof starts with that implied root).
A proof that merely fails proves nothing (wrong tiles or junk hashes fail too) and is refused.

Exit codes: 0 every piece of evidence proves a fork, or FILE holds [] ("no evidence"); 1 one
does not (the message says which and why); 2 usage error or unreadable file.`,
  async run(argv) {
    const { values: v, positionals } = parseFlags(
      argv,
      { "log-key": { type: "string", multiple: true }, json: { type: "boolean" } },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("expected exactly one FILE");
    if (!v["log-key"]?.length) throw new UsageError("--log-key VKEY is required");
    const keys = v["log-key"].map((k) => parseLogVerifierKey(k));
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(positionals[0]!, "utf8"));
    } catch (e) {
      throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    if (items.length === 0) {
      console.log(v.json ? JSON.stringify({ ok: true, results: [] }) : "no evidence");
      return 0;
    }
    const results = items.map((e, i) => {
      try {
        return { index: i, ok: true as const, ...verifyEvidence(e, keys) };
      } catch (err) {
        return { index: i, ok: false as const, error: (err as Error).message };
      }
    });
    if (v.json) console.log(JSON.stringify({ ok: results.every((r) => r.ok), results }));
    else {
      for (const r of results) {
        console.log(
          r.ok
            ? `evidence ${r.index}: fork of ${r.origin} proven (${r.kind}, sizes ${r.sizes.join(" and ")})`
            : `evidence ${r.index}: NOT a proven fork: ${r.error}`,
        );
      }
    }
    return results.every((r) => r.ok) ? 0 : 1;
  },
};
