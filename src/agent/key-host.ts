// The agent's start-up check that its submit key is bound to the host it records as: the log
// refuses every event of another host (403 wrong-host), so a mismatch found before anything is
// spooled is a usage error (exit 2) naming both hosts and the flag that fixes it, instead of
// events spooled under a host the log will never accept. An unreachable log is no error here:
// the agent must start and spool while the log is down.

import { httpRead } from "../client/http-read.ts";
import { UsageError } from "../core/errors.ts";

export type KeyHostCheck =
  | { checked: true; host: string | null }
  /** The log could not tell (unreachable, older log without /v1/keys/self, odd answer). */
  | { checked: false; why: string };

/** Asks GET /v1/keys/self which host the key is bound to; throws UsageError on a mismatch. */
export async function checkKeyHost(
  logUrl: string,
  token: string,
  host: string,
  timeoutMs = 5000,
): Promise<KeyHostCheck> {
  let status: number;
  let text: string;
  try {
    const res = await httpRead(`${logUrl.replace(/\/+$/, "")}/v1/keys/self`, {
      method: "GET",
      headers: { Authorization: `Bearer ${token}` },
      maxBytes: 64 * 1024,
      timeoutMs,
    });
    status = res.status;
    text = new TextDecoder().decode(res.body);
  } catch (e) {
    return { checked: false, why: `log unreachable: ${(e as Error).message}` };
  }
  if (status !== 200) return { checked: false, why: `log answered ${status}` };
  let bound: unknown;
  try {
    bound = (JSON.parse(text) as { host?: unknown }).host;
  } catch {
    return { checked: false, why: "the log's answer is not JSON" };
  }
  if (bound !== null && typeof bound !== "string") {
    return { checked: false, why: "the log's answer has no host" };
  }
  if (bound !== null && bound !== host) {
    throw new UsageError(
      `this submit key is bound to host "${bound}" but the agent records as host "${host}": ` +
        `run the agent with --host ${JSON.stringify(bound)}, or create a key with ` +
        `\`tmuxtrail keys create --scope submit --host ${JSON.stringify(host)}\``,
    );
  }
  return { checked: true, host: bound };
}
