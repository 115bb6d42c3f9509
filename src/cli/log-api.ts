// A small HTTP client for commands that talk to a running log: base URL, bearer token, JSON
// errors turned into messages. An unreachable log or a malformed answer is exit 2 (UsageError-like).

import { readFileSync } from "node:fs";
import { httpRead, READ_CAPS, type ReadAnswer, ServiceError } from "../client/http-read.ts";

export { ServiceError };

function tokenFile(path: string, required: boolean): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (e) {
    if (required) throw new ServiceError(`cannot read token file ${path}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * A read-only command's token: --token-file, else TMUXTRAIL_TOKEN. Never TMUXTRAIL_ADMIN_TOKEN:
 * a command that only reads sends no admin token to whatever --log names (a mistyped or hostile
 * URL would receive the key to everything).
 */
export function readToken(file: string | undefined): string | undefined {
  if (file) return tokenFile(file, true);
  return process.env.TMUXTRAIL_TOKEN || undefined;
}

/** A token and where it came from, named in the message of a 401 answer. */
export interface SourcedToken {
  token?: string;
  tokenSource: string;
}

/**
 * An admin command's token (keys, erase), the explicit before the default: --token-file, else
 * TMUXTRAIL_ADMIN_TOKEN, else ./data/admin.token when it exists (what `serve` generates on first
 * start), else TMUXTRAIL_TOKEN (a generic token, often a read key). The admin variable set for
 * this shell beats a file left by an earlier `npm start` in the same checkout.
 */
export function adminToken(file: string | undefined): SourcedToken {
  if (file) return { token: tokenFile(file, true), tokenSource: `--token-file ${file}` };
  const env = process.env;
  if (env.TMUXTRAIL_ADMIN_TOKEN) {
    return { token: env.TMUXTRAIL_ADMIN_TOKEN, tokenSource: "$TMUXTRAIL_ADMIN_TOKEN" };
  }
  const token = tokenFile("./data/admin.token", false);
  if (token) return { token, tokenSource: "./data/admin.token" };
  if (env.TMUXTRAIL_TOKEN) return { token: env.TMUXTRAIL_TOKEN, tokenSource: "$TMUXTRAIL_TOKEN" };
  return { tokenSource: "no token" };
}

/**
 * One request through the capped reader (src/client/http-read.ts): `maxBytes` (default
 * READ_CAPS.json) bounds the answer, `timeoutMs` (default 30 s) the whole exchange, body included.
 */
export async function request(
  base: string,
  path: string,
  init: {
    method?: string;
    token?: string;
    json?: unknown;
    body?: Uint8Array;
    type?: string;
    maxBytes?: number;
    timeoutMs?: number;
    /** Where the token came from (see adminToken), named when the log answers 401. */
    tokenSource?: string;
  } = {},
): Promise<ReadAnswer> {
  const headers: Record<string, string> = {};
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  let body: string | Uint8Array | undefined;
  if (init.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(init.json);
  } else if (init.body) {
    headers["Content-Type"] = init.type ?? "application/octet-stream";
    body = init.body;
  }
  const url = new URL(path, base.endsWith("/") ? base : `${base}/`);
  return httpRead(url, {
    method: init.method ?? "GET",
    headers,
    body,
    maxBytes: init.maxBytes ?? READ_CAPS.json,
    timeoutMs: init.timeoutMs ?? 30_000,
  });
}

/** Sends a request and returns the JSON answer; non-2xx answers become ServiceError. */
export async function requestJson<T>(
  base: string,
  path: string,
  init: Parameters<typeof request>[2] = {},
): Promise<T> {
  const res = await request(base, path, init);
  const text = new TextDecoder().decode(res.body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ServiceError(
      `${res.status} from ${path}: not JSON: ${text.slice(0, 200)}`,
      res.status,
    );
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } }).error;
    const used = res.status === 401 && init.tokenSource ? ` (token used: ${init.tokenSource})` : "";
    throw new ServiceError(
      `${res.status} ${err?.code ?? ""}: ${err?.message ?? text.slice(0, 200)}${used}`,
      res.status,
    );
  }
  return parsed as T;
}
