// Text from leaves, bundles and logs on a terminal. A leaf's fields (a host, a user, an access
// event's "read", an erasure's reason, a finding that quotes them) are written by whoever sent
// them; printed raw, an ESC or a C1 CSI in them drives the reader's terminal (moves the cursor,
// rewrites earlier lines, retitles the window, and on some terminals worse). Every command that
// prints such text to a terminal passes it through here.
//
//   printable   C0 controls (U+0000-U+001F), DEL (U+007F) and C1 controls (U+0080-U+009F) become
//               "\xNN"; the line and paragraph separators and the bidirectional overrides and
//               isolates (U+2028, U+2029, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which can
//               reorder or break what a reader sees, become "\uNNNN". Everything else is kept.
//               Example: "ok\u001b[2J" → "ok\x1b[2J".
//   jsonLine    JSON.stringify, then the same characters, which JSON.stringify leaves raw (all but
//               C0), as JSON "\uNNNN" escapes: the same JSON value, safe on a terminal.

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, "0");

/** Whether `s` has no control or reordering character (free text the log accepts must not). */
export function isPrintable(s: string): boolean {
  return s.match(UNSAFE) === null;
}

/** `s` with every control and reordering character as a visible escape (see above). */
export function printable(s: string): string {
  return s.replace(UNSAFE, (c) =>
    c.charCodeAt(0) < 0x100 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`,
  );
}

/** JSON text of `value` with no raw control or reordering character (the same value). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${hex(c, 4)}`);
}
