// Runs the log as a child process with a fault hook armed at one durable step (fault-log-main.ts):
// the child kills itself with SIGKILL there. Same database as `serve` from ./serve.ts would use
// (the data directory's PGlite, or the PostgreSQL schema), so the test restarts it with `serve`.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DurableStep } from "../../src/server/fault-hook.ts";

const MAIN = fileURLToPath(new URL("./fault-log-main.ts", import.meta.url));

export interface FaultLog {
  url: string;
  verifierKey: string;
  /** Resolves with the signal that ended the child (SIGKILL when the fault fired). */
  killed: Promise<NodeJS.Signals | null>;
  stderr: () => string;
  stop(): void;
}

export async function startFaultLog(opts: {
  data: string;
  schema?: string;
  step: DurableStep;
  /** Integrations that commit before the fault fires. */
  after: number;
}): Promise<FaultLog> {
  const args = [
    "--import",
    "tsx",
    MAIN,
    "--step",
    opts.step,
    "--after",
    String(opts.after),
    "--data",
    opts.data,
  ];
  const url = process.env.DATABASE_URL;
  if (url) args.push("--database-url", url, "--database-schema", opts.schema!);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stopChild = () => child.kill("SIGKILL");
  process.once("exit", stopChild);
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const killed = new Promise<NodeJS.Signals | null>((r) =>
    child.once("exit", (_code, signal) => {
      process.off("exit", stopChild);
      r(signal);
    }),
  );
  const banner = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fault log did not start: ${err}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (\S+)\n\s+verifier key\s+(\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    void killed.then(() => {
      clearTimeout(timer);
      reject(new Error(`fault log exited before listening: ${err}`));
    });
  });
  return {
    url: banner[1]!,
    verifierKey: banner[2]!,
    killed,
    stderr: () => err,
    stop: stopChild,
  };
}
