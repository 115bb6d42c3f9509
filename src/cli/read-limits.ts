// How much of a session bundle `export` and `replay` read from a log: at most --max-bytes
// (default READ_CAPS.bundle, 512 MiB) within 5 minutes, body included (src/client/http-read.ts).
// A long session's bundle may legitimately be larger: the flag raises the cap; nothing is ever
// read without one.

import { READ_CAPS } from "../client/http-read.ts";
import { UsageError } from "./command.ts";

export const maxBytesFlag = { "max-bytes": { type: "string" } } as const;

export const maxBytesHelp = `  --max-bytes N   refuse a bundle from the log larger than N bytes (default 512M; suffixes K, M,
                  G); the whole answer must also arrive within 5 minutes`;

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** The cap and deadline of one bundle read, from --max-bytes. */
export function bundleRead(v: { "max-bytes"?: string }): { maxBytes: number; timeoutMs: number } {
  const text = v["max-bytes"];
  if (text === undefined) return { maxBytes: READ_CAPS.bundle, timeoutMs: 300_000 };
  const m = /^([1-9]\d{0,12})([KMG]?)$/i.exec(text);
  const n = m ? Number(m[1]) * UNITS[m[2]!.toUpperCase()]! : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new UsageError(`--max-bytes must be a positive number of bytes, e.g. 2G: ${text}`);
  return { maxBytes: n, timeoutMs: 300_000 };
}
