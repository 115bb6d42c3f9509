// Starting `tmuxtrail serve` as a child process on a test database: a PostgreSQL schema when
// DATABASE_URL is set, else an embedded database in a temporary data directory.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN } from "./log.ts";
import { type Proc, run } from "./proc.ts";

export interface Served {
  proc: Proc;
  url: string;
}

export function tempDir(prefix = "tmuxtrail-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function serve(opts: {
  data: string;
  schema?: string;
  args?: string[];
  env?: Record<string, string>;
}): Promise<Served> {
  const env: Record<string, string | undefined> = { TMUXTRAIL_ADMIN_TOKEN: ADMIN, ...opts.env };
  if (opts.schema) env.TMUXTRAIL_DATABASE_SCHEMA = opts.schema;
  else env.DATABASE_URL = "";
  const proc = run(
    [
      "serve",
      "--port",
      "0",
      "--data",
      opts.data,
      "--checkpoint-interval",
      "100ms",
      ...(opts.args ?? []),
    ],
    env,
  );
  const m = await proc.waitFor(/listening on (http:\/\/\S+)/, 60_000);
  return { proc, url: m[1]! };
}

export async function postEvents(url: string, events: unknown[]): Promise<Response> {
  return fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(events),
  });
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
