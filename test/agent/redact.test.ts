import { describe, expect, it } from "vitest";
import { DEFAULT_PATTERNS, redact } from "../../src/agent/redact.ts";

const r = (s: string) => {
  const out = redact(Buffer.from(s, "latin1"));
  return { text: out.content.toString("latin1"), redactions: out.redactions };
};

describe("redaction before the leaf is formed", () => {
  it("replaces each kind of secret and records kind, offset and length", () => {
    const key =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    const cases: [string, string][] = [
      [`cat id\n${key}\n$ `, "private-key"],
      ["export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n", "aws-access-key-id"],
      [
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "aws-secret-access-key",
      ],
      ["curl -H 'Authorization: Bearer abcdef0123456789.xyz'\n", "bearer-token"],
      ["token tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345\n", "tmuxtrail-token"],
      ["mysql --password=hunter2 db\n", "password"],
      // Quoted, and the forms of a shell export, an env prefix and the AWS CLI's JSON.
      ["mysql --password='hunter2' db\n", "password"],
      ['{"password": "hunter2"}\n', "password"],
      [
        'export AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
        "aws-secret-access-key",
      ],
      [
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY aws s3 ls\n",
        "aws-secret-access-key",
      ],
      ['"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",\n', "aws-secret-access-key"],
    ];
    for (const [input, kind] of cases) {
      const out = r(input);
      expect(
        out.redactions.map((x) => x.kind),
        input,
      ).toEqual([kind]);
      expect(out.text).toContain(`[REDACTED:${kind}]`);
      const { at } = out.redactions[0]!;
      expect(out.text.slice(at, at + kind.length + 11)).toBe(`[REDACTED:${kind}]`);
      expect(out.text).not.toMatch(
        /AKIAIOSFODNN7EXAMPLE|hunter2|b3BlbnNzaC1rZXk|wJalrXUtnFEMI|abcdef0123456789|tt_AbCd/,
      );
    }
  });

  it("leaves ordinary output untouched, byte for byte", () => {
    const bytes = Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0x00, 0x41, 0x0d, 0x0a]);
    const out = redact(bytes, DEFAULT_PATTERNS);
    expect(out.redactions).toEqual([]);
    expect(out.content.equals(bytes)).toBe(true);
  });

  it("several secrets in one chunk are all replaced, offsets in the redacted content", () => {
    const out = r("a AKIAIOSFODNN7EXAMPLE b password: x1 c");
    expect(out.redactions.map((x) => x.kind)).toEqual(["aws-access-key-id", "password"]);
    for (const x of out.redactions) expect(out.text.slice(x.at)).toMatch(/^\[REDACTED:/);
  });
});

describe("chunk boundaries never split a secret", () => {
  it("a key in one chunk and its secret in the next are still redacted: the bytes before are context", () => {
    const chunk = (s: string, before: string) => {
      const out = redact(Buffer.from(s, "latin1"), DEFAULT_PATTERNS, Buffer.from(before, "latin1"));
      return { text: out.content.toString("latin1"), redactions: out.redactions };
    };
    expect(
      chunk("abcdef0123456789.xyz' https://api\r\n", "curl -H 'Authorization: Bearer "),
    ).toEqual({
      text: "[REDACTED:bearer-token]' https://api\r\n",
      redactions: [{ kind: "bearer-token", at: 0, len: 20 }],
    });
    // A secret cut in two: the part in this chunk is replaced.
    expect(chunk("ODNN7EXAMPLE done", "key AKIAIOSF")).toEqual({
      text: "[REDACTED:aws-access-key-id] done",
      redactions: [{ kind: "aws-access-key-id", at: 0, len: 12 }],
    });
    // A secret wholly in the context was the previous chunk's to replace.
    expect(chunk(" ok", "password=hunter2").redactions).toEqual([]);
  });

  it("safeCut moves a cut to the start of a secret it would fall inside", async () => {
    const { safeCut, secretSpans } = await import("../../src/agent/redact.ts");
    const text = `${"a".repeat(100)} AKIAIOSFODNN7EXAMPLE ${"b".repeat(100)}`;
    const spans = secretSpans(text);
    expect(spans).toEqual([[101, 121]]);
    expect(safeCut(spans, 110)).toBe(101);
    expect(safeCut(spans, 101)).toBe(101);
    expect(safeCut(spans, 121)).toBe(121);
    expect(safeCut(spans, 50)).toBe(50);
  });
});
