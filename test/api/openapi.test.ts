// GET /openapi.json describes every route the app answers (walked from the hono app itself, so a
// new route without a description fails here), and the README's worked example of a submission
// is one src/core/events.ts accepts: its payload.sha256 is base64(SHA-256(salt ‖ content)).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64Decode, utf8Encode } from "../../src/core/encoding.ts";
import { commitment, parseSubmission } from "../../src/core/events.ts";
import { openTestLog, type TestLog } from "../support/log.ts";

let log: TestLog;
beforeAll(async () => {
  log = await openTestLog();
});
afterAll(() => log.close());

/** hono's `:id` and wildcards, as the document names them. */
function documented(path: string): string {
  const wildcards: Record<string, string> = {
    "/tile/*": "/tile/{level}/{index}",
    "/tile/entries/*": "/tile/entries/{index}",
    "/ui/*": "/ui/{path}",
  };
  return wildcards[path] ?? path.replace(/:(\w+)/g, "{$1}");
}

describe("GET /openapi.json", () => {
  it("documents every route the app registers, with its method", async () => {
    const doc = (await (await log.req("/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = log.app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${documented(r.path)}`);
    const missing = [...new Set(routes)].filter((route) => {
      const [method, path] = route.split(" ") as [string, string];
      return !doc.paths[path]?.[method];
    });
    expect(missing).toEqual([]);
  });
});

describe("the README's worked example of a submission", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const at = readme.indexOf("Worked example");
  const block = readme.slice(at).match(/```json\n([\s\S]*?)```/);

  it("is accepted by parseSubmission, and its sha256 commits to its salt and content", () => {
    expect(at).toBeGreaterThan(0);
    const example = JSON.parse(block![1]!) as {
      content: string;
      salt: string;
      payload: { size: number; sha256: string };
    };
    const salt = base64Decode(example.salt, "salt", 32);
    const content = utf8Encode(example.content);
    expect(example.payload.sha256).toBe(commitment(salt, content));
    expect(example.payload.size).toBe(content.length);
    expect(parseSubmission(example).meta.payload).toEqual(example.payload);
  });
});
