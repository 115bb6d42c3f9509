// Terminal text for the bench's events (issue 20), made at run time from this machine: what panes
// really print (directory listings, package lists, licence texts, process tables), with the CR LF
// line ends a terminal gives, cut into chunks of 20 to 2,000 bytes (1.1 KB on average) at character
// boundaries. Random bytes would not compress and lorem ipsum repeated compresses far too well:
// storage is measured on this. Also what the corpus allows: its chunks deflated (level 1) one by
// one and in runs of 250, the figures a batch store is judged against.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";

/** What to run for text, each optional (a machine without one gives the others). */
const SOURCES: [string, string[]][] = [
  ["ls", ["-la", "--time-style=long-iso", "/usr/bin", "/usr/lib", "/etc", "/usr/share/doc"]],
  ["dpkg", ["-l"]],
  ["ps", ["aux"]],
  ["df", ["-h"]],
  ["env", []],
];

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, stdio: "pipe" });
  } catch (e) {
    return String((e as { stdout?: unknown }).stdout ?? "");
  }
}

/** About `bytes` of this machine's terminal text (sources repeated in turn if short). */
export function terminalText(bytes = 24 << 20): Buffer {
  const parts: string[] = SOURCES.map(([cmd, args]) => run(cmd, args));
  const licences = "/usr/share/common-licenses";
  if (existsSync(licences)) {
    for (const f of readdirSync(licences)) {
      try {
        parts.push(readFileSync(join(licences, f), "utf8"));
      } catch {}
    }
  }
  const text = parts.join("\n").replace(/\r?\n/g, "\r\n");
  if (text.length === 0) throw new Error("no terminal text could be made on this machine");
  const one = Buffer.from(text);
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += one.length)
    one.copy(out, at, 0, Math.min(one.length, bytes - at));
  return out;
}

/** The text cut into chunks of 20..2,000 bytes, each ending on a UTF-8 character boundary. */
export function chunks(text: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  let k = 0;
  while (at < text.length) {
    // A spread of sizes averaging ~1.1 KB, the same every run.
    let end = Math.min(text.length, at + 20 + ((k++ * 7919) % 1981) + (k % 3 === 0 ? 600 : 0));
    while (end < text.length && (text[end]! & 0xc0) === 0x80) end++;
    out.push(text.subarray(at, end));
    at = end;
  }
  return out;
}

/** Deflate (raw, level 1) of the chunks one by one, and in runs of `run`: compressed / original. */
export function compressionRatios(cs: Buffer[], run = 250): { single: number; runs: number } {
  let total = 0;
  let single = 0;
  let runs = 0;
  for (let i = 0; i < cs.length; i += run) {
    const group = cs.slice(i, i + run);
    for (const c of group) {
      total += c.length;
      single += deflateRawSync(c, { level: 1 }).length;
    }
    runs += deflateRawSync(Buffer.concat(group), { level: 1 }).length;
  }
  return { single: single / total, runs: runs / total };
}
