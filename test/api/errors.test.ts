// How failures that are not the client's fault become answers: a database that is unreachable or
// out of something it gets back is 503 `unavailable` with Retry-After (clients retry, nothing was
// acknowledged), a full disk 503 `storage-full`, anything else a 500 that says nothing more.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { toResponse } from "../../src/api/errors.ts";
import { isConnectionLost } from "../../src/db/sql.ts";

function answer(thrown: unknown) {
  const logged: string[] = [];
  const app = new Hono();
  app.get("/", () => {
    throw thrown;
  });
  app.onError((e, c) => toResponse(e, c, (m) => logged.push(m)));
  return { res: app.request("/"), logged };
}

const failure = (code: string, message = "boom") => Object.assign(new Error(message), { code });

describe("failures of the database", () => {
  it.each([
    ["CONNECTION_CLOSED"],
    ["CONNECT_TIMEOUT"],
    ["ECONNREFUSED"],
    ["ECONNRESET"],
    ["ETIMEDOUT"],
    ["EHOSTUNREACH"],
    ["57P01"], // admin_shutdown
    ["57P02"], // crash_shutdown
    ["57P03"], // cannot_connect_now: starting up, shutting down
    ["08006"], // connection_failure
    ["08001"], // sqlclient_unable_to_establish_sqlconnection
    ["53300"], // too_many_connections
    ["53200"], // out_of_memory
  ])("%s is 503 unavailable with Retry-After", async (code) => {
    const { res } = answer(failure(code));
    const r = await res;
    expect(r.status).toBe(503);
    expect(r.headers.get("Retry-After")).toBe("1");
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("unavailable");
  });

  it.each([
    [failure("53100")],
    [failure("ENOSPC")],
    [failure("58030", 'could not extend file "base/1/2": No space left on device')],
  ])("a full disk (%s) is 503 storage-full, named on the log", async (e) => {
    const { res, logged } = answer(e);
    const r = await res;
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("storage-full");
    expect(logged.join("\n")).toMatch(/storage full/);
  });

  it("a database out of resources (class 53, not a full disk) is logged, once in a while", async () => {
    const first = answer(failure("53400", "configuration limit exceeded"));
    expect((await first.res).status).toBe(503);
    expect(first.logged.join("\n")).toMatch(/out of resources \(53400\).*configuration limit/);
    const again = answer(failure("53400", "configuration limit exceeded"));
    expect((await again.res).status).toBe(503);
    expect(again.logged).toEqual([]);
  });

  it("anything else is a 500 that gives nothing away, logged with its cause", async () => {
    const { res, logged } = answer(failure("42P01", 'relation "secret_table" does not exist'));
    const r = await res;
    expect(r.status).toBe(500);
    expect(await r.text()).not.toMatch(/secret_table/);
    expect(logged.join("\n")).toMatch(/secret_table/);
  });

  it("isConnectionLost knows the connection class and not query errors", () => {
    expect(isConnectionLost(failure("08003"))).toBe(true);
    expect(isConnectionLost(failure("0800"))).toBe(false);
    expect(isConnectionLost(failure("23505"))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
    expect(isConnectionLost("ECONNRESET")).toBe(false);
  });
});
