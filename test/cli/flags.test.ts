// parseFlags: a string flag's value may be a session id that begins with "-" (about one id in 32):
// `erase --session -Qx3f…` failed as "ambiguous" (a flaky e2e test, whenever the random host gave
// such an id). Other values beginning with "-" are still refused, so `--out --json` stays an error.
import { describe, expect, it } from "vitest";
import { parseFlags, UsageError } from "../../src/cli/command.ts";

const options = {
  session: { type: "string" },
  reason: { type: "string" },
  json: { type: "boolean" },
} as const;

describe("parseFlags", () => {
  it("takes a session id beginning with - as a string flag's value", () => {
    for (const id of [
      "-AAAAAAAAAAAAAAAAAAAAA",
      "--AAAAAAAAAAAAAAAAAAAA",
      "-_-_-_-_-_-_-_-_-_-_-_",
    ]) {
      const { values } = parseFlags(["--session", id, "--reason", "gdpr", "--json"], options);
      expect(values).toEqual({ session: id, reason: "gdpr", json: true });
    }
  });

  it("still refuses a flag where a value was expected, and a value that is not an id", () => {
    expect(() => parseFlags(["--session", "--json"], options)).toThrow(UsageError);
    expect(() => parseFlags(["--session", "-x", "--reason", "r"], options)).toThrow(UsageError);
    expect(() => parseFlags(["--session", "-AAAA", "--reason", "r"], options)).toThrow(UsageError);
  });
});
