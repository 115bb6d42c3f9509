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
  ["ls", ["-laR", "--time-style=long-iso", "/usr/share", "/usr/lib", "/etc"]],
  ["dpkg", ["-l"]],
  ["ps", ["aux"]],
  ["df", ["-h"]],
  ["env", []],
];
/** Texts of the kind panes show when someone reads: licences and packages' copyright files. */
const TEXT_DIRS = ["/usr/share/common-licenses", "/usr/share/doc"];

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20, stdio: "pipe" });
  } catch (e) {
    return String((e as { stdout?: unknown }).stdout ?? "");
  }
}

function texts(limit: number): string {
  const out: string[] = [];
  let n = 0;
  for (const dir of TEXT_DIRS) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      for (const f of [join(dir, name), join(dir, name, "copyright")]) {
        if (n >= limit) return out.join("\n");
        try {
          const t = readFileSync(f, "utf8");
          out.push(t);
          n += t.length;
        } catch {}
      }
    }
  }
  return out.join("\n");
}

/**
 * About `bytes` of this machine's terminal text: listings, package tables, licence texts, taken
 * in turn 64 KB at a time so that any stretch of it mixes them; repeated only when the machine
 * has less (a batch store must not find the repetition: 30 MB or more are unique here).
 */
export function terminalText(bytes = 32 << 20): Buffer {
  const parts = [...SOURCES.map(([cmd, args]) => run(cmd, args)), texts(bytes)].filter(
    (p) => p.length > 0,
  );
  if (parts.length === 0) throw new Error("no terminal text could be made on this machine");
  const mixed: string[] = [];
  const at = parts.map(() => 0);
  for (let more = true; more; ) {
    more = false;
    for (const [k, p] of parts.entries()) {
      if (at[k]! >= p.length) continue;
      let end = Math.min(p.length, at[k]! + 65536);
      const nl = p.indexOf("\n", end);
      end = nl < 0 ? p.length : nl + 1;
      mixed.push(p.slice(at[k], end));
      at[k] = end;
      more = true;
    }
  }
  const one = Buffer.from(mixed.join("").replace(/\r?\n/g, "\r\n"));
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += one.length) one.copy(out, i, 0, Math.min(one.length, bytes - i));
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
