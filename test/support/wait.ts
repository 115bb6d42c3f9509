// Synchronisation for tests: wait on the condition, not for a fixed time.
import { createServer } from "node:net";

/**
 * Polls `f` (sync or async) every 200 ms until it returns a truthy value and returns that value; a
 * throw counts as not yet. After `timeoutMs` throws "timed out waiting for <what>", with the last
 * error `f` threw if any.
 */
export async function until<T>(
  f: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let error: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      error = e;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}${error === undefined ? "" : ` (last error: ${error instanceof Error ? error.message : String(error)})`}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
