// Reads of session content are audited (docs/design.md §3.4): before a handler returns payload
// content it appends an `access` event (which key, what it read, when) to the log's own stream and
// waits until that event is durable. If it cannot be recorded, the content is not served: an
// operator cannot read quietly, even by breaking the recording.

import type { Context } from "hono";
import type { LogContext } from "./context.ts";
import { ApiError } from "./errors.ts";
import type { Env } from "./http.ts";

export async function recordAccess(ctx: LogContext, c: Context<Env>, what: string): Promise<void> {
  const key = c.get("principal").id;
  try {
    await ctx.ownEvents.access(key, what);
  } catch (e) {
    ctx.say(`could not record access by ${key} to ${what}: ${(e as Error).message}`);
    throw new ApiError(
      503,
      "unavailable",
      "this read could not be recorded in the log, so its content is not served; retry",
      { "Retry-After": "1" },
    );
  }
}
