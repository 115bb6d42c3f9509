// Redaction of secrets in pane output, on the host, before the leaf is formed: what the log never
// receives it can never leak. Each pattern has a kind; a match is replaced by "[REDACTED:<kind>]"
// and recorded in the event's `redactions` as {kind, at, len}: `at` is the offset in the content
// sent, `len` the number of original bytes replaced. Extend with --redact KIND=REGEX.
//
// Works on bytes: the text is decoded as latin1 (one char per byte) so offsets are byte offsets.

export interface RedactionPattern {
  kind: string;
  re: RegExp;
}

export const DEFAULT_PATTERNS: RedactionPattern[] = [
  {
    kind: "private-key",
    re: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g,
  },
  { kind: "aws-access-key-id", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g },
  { kind: "aws-secret-access-key", re: /(?<=aws_secret_access_key\s*[=:]\s*)[A-Za-z0-9/+=]{40}/gi },
  { kind: "bearer-token", re: /(?<=\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]{8,}=*/g },
  { kind: "tmuxtrail-token", re: /\btt_[A-Za-z0-9_-]{20,}/g },
  { kind: "password", re: /(?<=\b(?:password|passwd|passphrase|secret)\s*[:=]\s*)[^\s'"]+/gi },
];

/** An unfinished private-key block: hold the output back until its END line (or the cap). */
export const OPEN_KEY_BLOCK =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?![\s\S]*-----END [A-Z0-9 ]*PRIVATE KEY-----)/;

export function redact(
  bytes: Buffer,
  patterns: RedactionPattern[] = DEFAULT_PATTERNS,
): { content: Buffer; redactions: { kind: string; at: number; len: number }[] } {
  let text = bytes.toString("latin1");
  const found: { kind: string; start: number; end: number }[] = [];
  for (const p of patterns) {
    for (const m of text.matchAll(
      new RegExp(p.re.source, p.re.flags.includes("g") ? p.re.flags : `${p.re.flags}g`),
    )) {
      const start = m.index!;
      const end = start + m[0].length;
      if (m[0].length > 0 && !found.some((f) => start < f.end && end > f.start))
        found.push({ kind: p.kind, start, end });
    }
  }
  if (found.length === 0) return { content: bytes, redactions: [] };
  found.sort((a, b) => a.start - b.start);
  const redactions: { kind: string; at: number; len: number }[] = [];
  let out = "";
  let last = 0;
  for (const f of found) {
    out += text.slice(last, f.start);
    redactions.push({ kind: f.kind, at: out.length, len: f.end - f.start });
    out += `[REDACTED:${f.kind}]`;
    last = f.end;
  }
  out += text.slice(last);
  text = out;
  return { content: Buffer.from(text, "latin1"), redactions };
}

/** Where secrets are in `text` (latin1 of the bytes): [start, end) spans. */
export function secretSpans(
  text: string,
  patterns: RedactionPattern[] = DEFAULT_PATTERNS,
): [number, number][] {
  const spans: [number, number][] = [];
  for (const p of patterns) {
    for (const m of text.matchAll(
      new RegExp(p.re.source, p.re.flags.includes("g") ? p.re.flags : `${p.re.flags}g`),
    )) {
      if (m[0].length > 0) spans.push([m.index!, m.index! + m[0].length]);
    }
  }
  return spans;
}

/**
 * The largest cut ≤ `cut` that splits no secret: chunk boundaries never fall inside a match, so
 * each secret is redacted whole in one chunk (the overlapping-window rule of DESIGN section 7).
 */
export function safeCut(spans: [number, number][], cut: number): number {
  let c = cut;
  for (;;) {
    const crossing = spans.find(([a, b]) => a < c && c < b);
    if (!crossing) return c;
    c = crossing[0];
  }
}
