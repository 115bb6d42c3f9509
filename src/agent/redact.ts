// Redaction of secrets on the host, before the leaf is formed: what the log never receives it can
// never leak. Pane output, command lines and working directories go through the same patterns.
// Each pattern has a kind; a match is replaced by "[REDACTED:<kind>]" and recorded in the event's
// `redactions` as {kind, at, len}: `at` is the byte offset of the marker in the content sent,
// `len` the number of original bytes replaced. Extend with --redact KIND=REGEX.
//
// Output is bytes: redact() decodes it as latin1 (one char per byte), so offsets are byte offsets.
// It arrives in chunks, so redact() and secretSpans() take the bytes before the chunk as context:
// a pattern whose key is in one chunk and its secret in the next ("Authorization: Bearer " | the
// token, a pane that paused mid-line) still matches, and the part in this chunk is replaced.
// Command lines and directories are text: redactText() matches on the decoded string (so a `\s`
// never stops inside a multi-byte character) and counts `len` in UTF-8 bytes.

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
  // aws_secret_access_key = …, export AWS_SECRET_ACCESS_KEY="…", "SecretAccessKey": "…"
  {
    kind: "aws-secret-access-key",
    re: /(?<=secret_?access_?key["']?\s*[=:]\s*["']?)[A-Za-z0-9/+=]{40}/gi,
  },
  { kind: "bearer-token", re: /(?<=\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]{8,}=*/g },
  { kind: "tmuxtrail-token", re: /\btt_[A-Za-z0-9_-]{20,}/g },
  // --password=…, password: …, PASSWORD='…', "secret": "…"
  {
    kind: "password",
    re: /(?<=\b(?:password|passwd|passphrase|secret)["']?\s*[:=]\s*["']?)[^\s'"]+/gi,
  },
];

/** An unfinished private-key block: hold the output back until its END line (or the cap). */
export const OPEN_KEY_BLOCK =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?![\s\S]*-----END [A-Z0-9 ]*PRIVATE KEY-----)/;

/** `re` with the g flag, for matchAll. */
const allMatches = (re: RegExp) =>
  new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);

export interface Redaction {
  kind: string;
  at: number;
  len: number;
}

/**
 * The secrets in `text` that end past `from`, sorted and non-overlapping (on overlap the earlier
 * pattern wins).
 */
function findSecrets(
  text: string,
  patterns: RedactionPattern[],
  from = 0,
): { kind: string; start: number; end: number }[] {
  const found: { kind: string; start: number; end: number }[] = [];
  for (const p of patterns) {
    for (const m of text.matchAll(allMatches(p.re))) {
      const start = m.index!;
      const end = start + m[0].length;
      if (end > from && m[0].length > 0 && !found.some((f) => start < f.end && end > f.start))
        found.push({ kind: p.kind, start, end });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/**
 * The secrets in `text` when `context` (what came before it) is put in front: spans in `text`,
 * a secret that began in the context cut to its part in `text`.
 */
function findAfter(text: string, context: string, patterns: RedactionPattern[]) {
  if (context.length === 0) return findSecrets(text, patterns);
  const n = context.length;
  return findSecrets(context + text, patterns, n).map((f) => ({
    kind: f.kind,
    start: Math.max(f.start, n) - n,
    end: f.end - n,
  }));
}

/**
 * Replaces the `found` secrets in `text`. `at` is the marker's index in the returned string;
 * `len` is the replaced text's length as `size` counts it.
 */
function replaceSecrets(
  text: string,
  found: { kind: string; start: number; end: number }[],
  size: (s: string) => number,
): { text: string; redactions: Redaction[] } {
  if (found.length === 0) return { text, redactions: [] };
  const redactions: Redaction[] = [];
  let out = "";
  let last = 0;
  for (const f of found) {
    out += text.slice(last, f.start);
    redactions.push({ kind: f.kind, at: out.length, len: size(text.slice(f.start, f.end)) });
    out += `[REDACTED:${f.kind}]`;
    last = f.end;
  }
  return { text: out + text.slice(last), redactions };
}

/** Redacts pane output (bytes) that followed `context`: offsets and lengths in bytes. */
export function redact(
  bytes: Buffer,
  patterns: RedactionPattern[] = DEFAULT_PATTERNS,
  context: Buffer = Buffer.alloc(0),
): { content: Buffer; redactions: Redaction[] } {
  const text = bytes.toString("latin1");
  const found = findAfter(text, context.toString("latin1"), patterns);
  const r = replaceSecrets(text, found, (s) => s.length);
  if (r.redactions.length === 0) return { content: bytes, redactions: [] };
  return { content: Buffer.from(r.text, "latin1"), redactions: r.redactions };
}

/**
 * Redacts text (a command line, a directory): `at` is the marker's index in the returned string
 * (the caller places it in the content it sends), `len` the replaced secret's UTF-8 length.
 */
export function redactText(
  text: string,
  patterns: RedactionPattern[] = DEFAULT_PATTERNS,
): { text: string; redactions: Redaction[] } {
  return replaceSecrets(text, findSecrets(text, patterns), (s) => Buffer.byteLength(s));
}

/** Where secrets are in `text` (latin1 of the bytes) that followed `context`: [start, end) spans. */
export function secretSpans(
  text: string,
  patterns: RedactionPattern[] = DEFAULT_PATTERNS,
  context = "",
): [number, number][] {
  const n = context.length;
  const all = n ? context + text : text;
  const spans: [number, number][] = [];
  for (const p of patterns) {
    for (const m of all.matchAll(allMatches(p.re))) {
      const end = m.index! + m[0].length;
      if (m[0].length > 0 && end > n) spans.push([Math.max(m.index!, n) - n, end - n]);
    }
  }
  return spans;
}

/**
 * The largest cut ≤ `cut` that splits no secret: chunk boundaries never fall inside a match, so
 * each secret is redacted whole in one chunk (the overlapping-window rule of docs/design.md §7.6).
 */
export function safeCut(spans: [number, number][], cut: number): number {
  let c = cut;
  for (;;) {
    const crossing = spans.find(([a, b]) => a < c && c < b);
    if (!crossing) return c;
    c = crossing[0];
  }
}
