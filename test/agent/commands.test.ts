// Command records from the shell hook become redacted command content (src/agent/commands.ts).
import { describe, expect, it } from "vitest";
import { commandEvent } from "../../src/agent/commands.ts";
import { DEFAULT_PATTERNS } from "../../src/agent/redact.ts";
import { MAX_CONTENT } from "../../src/core/events.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const record = (
  line: string,
  cwd = "/home/alice",
  exit = "0",
  start = "1733572800000",
  end = "1733572800250",
) => ["%3", b64(line), b64(cwd), exit, start, end].join("\u001f");

/** Each redaction's `at` is where its marker starts in the content bytes; returns the kinds. */
function markersAt(content: Buffer, redactions: { kind: string; at: number }[]): string[] {
  for (const r of redactions) {
    expect(content.subarray(r.at).toString("utf8").startsWith(`[REDACTED:${r.kind}]`), r.kind).toBe(
      true,
    );
  }
  return redactions.map((r) => r.kind);
}

describe("secrets typed on a command line are redacted like output", () => {
  const secrets: [line: string, kind: string, secret: string][] = [
    ["mysql --password=hunter2pw -e 'select 1'", "password", "hunter2pw"],
    [
      "curl -H 'Authorization: Bearer abcdef0123456789.xyz' https://api",
      "bearer-token",
      "abcdef0123456789.xyz",
    ],
    [
      "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      "aws-secret-access-key",
      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ],
    [
      "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE2 aws s3 ls",
      "aws-secret-access-key",
      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE2",
    ],
    [
      'export AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE3"',
      "aws-secret-access-key",
      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE3",
    ],
    [
      "tmuxtrail tail --token tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
      "tmuxtrail-token",
      "tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    ],
  ];
  for (const [line, kind, secret] of secrets) {
    it(`${kind}: ${line.slice(0, 40)}…`, () => {
      const c = commandEvent(record(line), DEFAULT_PATTERNS)!;
      expect(c.content.toString()).not.toContain(secret);
      expect(markersAt(c.content, c.redactions)).toEqual([kind]);
      expect(c.redactions[0]!.len).toBe(Buffer.byteLength(secret));
      expect(JSON.parse(c.content.toString()).line).toBe(
        line.replace(secret, `[REDACTED:${kind}]`),
      );
    });
  }

  it("the cwd is redacted too; `at` counts content bytes past JSON escapes and multi-byte characters", () => {
    // Before each marker: a quote and a backslash (escaped in JSON: 2 bytes each) and "é" (2 bytes).
    const line = 'echo "é\\" && psql password=sécret1 && mysql --password=hunter2pw';
    const cwd = '/srv/"é"/password=cwdsecret9';
    const c = commandEvent(record(line, cwd), DEFAULT_PATTERNS)!;
    const text = c.content.toString();
    for (const s of ["sécret1", "hunter2pw", "cwdsecret9"]) expect(text).not.toContain(s);
    expect(markersAt(c.content, c.redactions)).toEqual(["password", "password", "password"]);
    expect(c.redactions.map((r) => r.len)).toEqual([10, 8, 9]);
    expect(JSON.parse(text)).toEqual({
      cwd: '/srv/"é"/password=[REDACTED:password]',
      end: "2024-12-07T12:00:00.250Z",
      exit: 0,
      line: 'echo "é\\" && psql password=[REDACTED:password] && mysql --password=[REDACTED:password]',
      start: "2024-12-07T12:00:00.000Z",
    });
  });

  it("records of the v2 form (percent-escaped, read as bytes) are redacted the same way", () => {
    const raw = Buffer.from(
      [
        "v2",
        "%3",
        "psql password=sécret1%0Aecho é",
        "/srv/é",
        "0",
        "1733572800000",
        "1733572800250",
      ].join("\u001f"),
    ).toString("latin1");
    const c = commandEvent(raw, DEFAULT_PATTERNS)!;
    expect(c.pane).toBe("%3");
    expect(c.content.toString()).not.toContain("sécret1");
    expect(markersAt(c.content, c.redactions)).toEqual(["password"]);
    expect(c.redactions[0]!.len).toBe(Buffer.byteLength("sécret1"));
    expect(JSON.parse(c.content.toString())).toMatchObject({
      line: "psql password=[REDACTED:password]\necho é",
      cwd: "/srv/é",
    });
  });

  it("with no secret, no redactions and the line as typed", () => {
    const c = commandEvent(record("ls -la"), DEFAULT_PATTERNS)!;
    expect(c.redactions).toEqual([]);
    expect(JSON.parse(c.content.toString()).line).toBe("ls -la");
  });
});

describe("the record format of the shell hook", () => {
  it("decimal milliseconds are rounded; an empty or non-numeric exit status is null", () => {
    const c = commandEvent(record("true", "/", "", "1733572800123.456", "1733572800999.5"), [])!;
    expect(JSON.parse(c.content.toString())).toMatchObject({
      exit: null,
      start: "2024-12-07T12:00:00.123Z",
      end: "2024-12-07T12:00:01.000Z",
    });
    const d = commandEvent(record("true", "/", "abc"), [])!;
    expect(JSON.parse(d.content.toString()).exit).toBeNull();
    expect(JSON.parse(commandEvent(record("false", "/", "1"), [])!.content.toString()).exit).toBe(
      1,
    );
  });

  it("missing or absurd times fall back to when the record was read, never throw", () => {
    const now = Date.parse("2026-01-02T03:04:05.006Z");
    for (const [start, end] of [
      ["", ""],
      ["x", "1e400"],
      ["-5", "99999999999999999999"],
    ]) {
      const c = commandEvent(record("true", "/", "0", start, end), [], now)!;
      expect(JSON.parse(c.content.toString())).toMatchObject({
        start: "2026-01-02T03:04:05.006Z",
        end: "2026-01-02T03:04:05.006Z",
      });
    }
  });

  it("a record that is not one (no pane, too few fields) is skipped", () => {
    expect(commandEvent("", [])).toBeUndefined();
    expect(commandEvent(["x", b64("ls"), b64("/")].join("\u001f"), [])).toBeUndefined();
    expect(commandEvent(["%1", b64("ls")].join("\u001f"), [])).toBeUndefined();
  });

  it("a line too long for one event is cut to fit, never inside a marker", () => {
    // Around the limit, so the cut falls before, inside and after the marker.
    for (let pad = 160; pad >= 60; pad -= 3) {
      const full = `${"x".repeat(MAX_CONTENT - pad)} --password=hunter2pw ${"y".repeat(20_000)}`;
      const redacted = full.replace("hunter2pw", "[REDACTED:password]");
      const c = commandEvent(record(full), DEFAULT_PATTERNS)!;
      expect(c.content.length).toBeLessThanOrEqual(MAX_CONTENT);
      expect(c.content.toString()).not.toContain("hunter2pw");
      const line: string = JSON.parse(c.content.toString()).line;
      expect(line.endsWith("[TRUNCATED]")).toBe(true);
      const kept = line.slice(0, -"[TRUNCATED]".length);
      expect(redacted.startsWith(kept)).toBe(true);
      expect(kept.length).toBeGreaterThan(MAX_CONTENT - 200);
      // No part of a marker is left: a "[" in what is kept starts a whole one.
      const open = kept.indexOf("[");
      if (open >= 0) expect(kept.slice(open)).toMatch(/^\[REDACTED:password\]/);
      expect(markersAt(c.content, c.redactions)).toEqual(open >= 0 ? ["password"] : []);
    }
  });
});
