// Running `tmuxtrail` as a real child process, for end-to-end and crash tests.

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/tmuxtrail.js", import.meta.url));

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first match of `re` on stdout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/**
 * Every child still running when the test worker exits is killed then, so a test that timed out
 * before its own cleanup ran leaves no log, witness or agent behind.
 */
const running = new Set<ChildProcess>();
const killRunning = () => {
  for (const c of running) c.kill("SIGKILL");
};
process.once("exit", killRunning);
// A worker stopped by a signal emits no "exit": kill the children, then end as the signal would.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    killRunning();
    process.exit(128 + (signal === "SIGTERM" ? 15 : 2));
  });
}

/** `via`: a command that runs node, e.g. `["setpriv", "--bounding-set=…", "--"]`. */
export function run(
  args: string[],
  env: Record<string, string | undefined> = {},
  via: string[] = [],
): Proc {
  const [cmd, ...argv] = [...via, process.execPath, BIN, ...args];
  const child = spawn(cmd!, argv, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let out = "";
  let err = "";
  const listeners: (() => void)[] = [];
  child.stdout!.on("data", (d) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re}; stdout: ${out}; stderr: ${err}`)),
          timeoutMs,
        );
        listeners.push(check);
        exited.then((code) => {
          clearTimeout(timer);
          if (!out.match(re))
            reject(new Error(`exited ${code} before ${re}; stdout: ${out}; stderr: ${err}`));
        });
        check();
      });
    },
  };
}
