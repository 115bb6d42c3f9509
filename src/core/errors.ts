// The one error type of tmuxtrail. Every parser and verifier in src/core throws only TrailError, with
// a `code` from the union below; src/api maps codes to HTTP statuses and the CLI to exit codes.
// Junk input must never surface a TypeError or RangeError: parsers check before they index.

export type TrailErrorCode =
  // Input that does not parse: wrong syntax, bad base64/UTF-8, over a limit, trailing data.
  | "malformed"
  // A key string that is not a valid signer or verifier key.
  | "bad-key"
  // A note whose signatures include none by a trusted key.
  | "unverified"
  // A trusted key's signature that does not verify (rejects the note even if another key verified).
  | "bad-signature"
  // Two trusted verifiers share a name and key ID.
  | "ambiguous-key"
  // Preconditions of a proof: index >= size, size1 > size2, size 0, proof of the wrong length.
  | "bad-index"
  | "bad-size"
  | "bad-proof-length"
  // A well-formed proof that does not lead to the expected root.
  | "proof-mismatch"
  // A hash that is not 32 bytes.
  | "bad-hash"
  // Fewer valid witness cosignatures than the quorum asks for.
  | "quorum"
  // An event that does not match the schema or whose commitment does not match its content.
  | "bad-event"
  | "commitment-mismatch"
  // A hash or tile the reader cannot provide (e.g. beyond the tree).
  | "not-found";

export class TrailError extends Error {
  readonly code: TrailErrorCode;

  constructor(code: TrailErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TrailError";
    this.code = code;
  }
}

/** Throws a TrailError with `code` unless `cond` holds. */
export function check(cond: unknown, code: TrailErrorCode, message: string): asserts cond {
  if (!cond) throw new TrailError(code, message);
}

export function isTrailError(e: unknown, code?: TrailErrorCode): e is TrailError {
  return e instanceof TrailError && (code === undefined || e.code === code);
}

/** A safe short rendering of an untrusted value for an error message (never throws). */
export function show(x: unknown): string {
  if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint") return String(x);
  if (typeof x === "string") return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x);
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of ${x.length}`;
  return typeof x === "object" ? "an object" : typeof x;
}

/**
 * A caller's mistake in how it asked (a flag, a file it named): exit 2 in the CLI, which re-exports
 * it from src/cli/command.ts. Here so that the readers in src/client can throw it.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
