// Running a `tmuxtrail` command in this process (src/cli/main.ts), with what it prints captured:
// a second per command instead of a child process's start-up, for tests that run many commands.

import { main } from "../../src/cli/main.ts";

export interface CliRun {
  code: number;
  /** stdout: console.log and process.stdout.write, in order. */
  out: string;
  /** stderr: console.error/warn and process.stderr.write. */
  err: string;
}

/** One command at a time (the capture replaces process-wide writers). */
let queue: Promise<unknown> = Promise.resolve();

export function runCli(args: string[]): Promise<CliRun> {
  const next = queue.then(() => capture(args));
  queue = next.catch(() => {});
  return next;
}

async function capture(args: string[]): Promise<CliRun> {
  let out = "";
  let err = "";
  const saved = {
    log: console.log,
    error: console.error,
    warn: console.warn,
    stdout: process.stdout.write,
    stderr: process.stderr.write,
  };
  const line = (...a: unknown[]) => `${a.map(String).join(" ")}\n`;
  console.log = (...a: unknown[]) => {
    out += line(...a);
  };
  console.error = console.warn = (...a: unknown[]) => {
    err += line(...a);
  };
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    console.warn = saved.warn;
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
  }
}
