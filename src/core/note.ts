// C2SP signed-note, with the semantics of Go's golang.org/x/mod/sumdb/note Open
// (docs/design.md §2.5):
//
//   <text ending in "\n"> "\n" ("— " <name> " " <base64(keyID4 || signature)> "\n")+
//
// - the whole note is valid UTF-8 with no control characters but "\n", at most 1 MB;
// - the signature block follows the LAST blank line; every line of it is a signature line;
// - at most 100 signatures; strict base64 of at least 5 bytes; valid key names;
// - a signature by no known key (name + key ID) is ignored, listed as unverified;
// - a known key's signature that does not verify rejects the whole note ("bad-signature"), even
//   when another key's signature verified;
// - repeated signatures are dropped; no verified signature at all is "unverified";
// - two known verifiers with the same name and key ID make the key "ambiguous-key".

import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from "./encoding.ts";
import { check, show, TrailError } from "./errors.ts";
import { isValidKeyName, type Signer, type Verifier } from "./keys.ts";

export const MAX_NOTE_SIZE = 1_000_000;
export const MAX_SIGNATURES = 100;
const SIG_PREFIX = "\u2014 "; // em dash, space

export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  /** The base64 of keyID || signature, as on the line. */
  base64: string;
}

export interface OpenedNote {
  text: string;
  verified: (NoteSignature & { verifier: Verifier })[];
  unverified: NoteSignature[];
}

/** Checks that text is a valid note text: ends in "\n", no control characters but "\n". */
function checkText(text: string, what: string): void {
  check(typeof text === "string", "malformed", `${what} is not a string`);
  check(text.endsWith("\n"), "malformed", `${what} does not end in a newline`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    check(!(c < 0x20 && c !== 0x0a), "malformed", `${what} contains a control character`);
    if (c >= 0xd800 && c <= 0xdfff) {
      const hi = c <= 0xdbff;
      const next = text.charCodeAt(i + 1);
      check(hi && next >= 0xdc00 && next <= 0xdfff, "malformed", `${what} is not valid Unicode`);
      i++;
    }
  }
}

export function signatureLine(name: string, keyId: Uint8Array, sig: Uint8Array): string {
  return `${SIG_PREFIX}${name} ${base64Encode(concatBytes(keyId, sig))}\n`;
}

/** Signs `text` (which must end in "\n") with each signer: text, blank line, signature lines. */
export function signNote(text: string, signers: readonly Signer[]): string {
  checkText(text, "note text");
  check(signers.length > 0, "bad-key", "no signer");
  const msg = utf8Encode(text);
  return `${text}\n${signers.map((s) => signatureLine(s.name, s.keyId, s.sign(msg))).join("")}`;
}

/** Splits a note into its text and signature block without verifying anything. */
export function splitNote(note: string | Uint8Array): { text: string; sigLines: string[] } {
  let s: string;
  if (note instanceof Uint8Array) {
    check(note.length <= MAX_NOTE_SIZE, "malformed", "note larger than 1 MB");
    s = utf8Decode(note, "note");
  } else {
    check(typeof note === "string", "malformed", "note is not a string");
    s = note;
  }
  check(s.length <= MAX_NOTE_SIZE, "malformed", "note larger than 1 MB");
  checkText(s, "note");
  const split = s.lastIndexOf("\n\n");
  check(split >= 0, "malformed", "note has no signature block");
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  check(block.length > 0, "malformed", "note has no signatures");
  const sigLines = block.slice(0, -1).split("\n");
  check(
    sigLines.length <= MAX_SIGNATURES,
    "malformed",
    `note has more than ${MAX_SIGNATURES} signatures`,
  );
  return { text, sigLines };
}

export function parseSignatureLine(line: string): NoteSignature & { sig: Uint8Array } {
  check(line.startsWith(SIG_PREFIX), "malformed", `not a signature line: ${show(line)}`);
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(" ");
  check(sp > 0, "malformed", "signature line has no name and signature");
  const name = rest.slice(0, sp);
  const b64 = rest.slice(sp + 1);
  check(isValidKeyName(name), "malformed", `invalid signer name ${show(name)}`);
  const raw = base64Decode(b64, "signature");
  check(raw.length >= 5, "malformed", "signature too short");
  return { name, keyId: raw.subarray(0, 4), base64: b64, sig: raw.subarray(4) };
}

export function openNote(note: string | Uint8Array, verifiers: readonly Verifier[]): OpenedNote {
  const { text, sigLines } = splitNote(note);
  const msg = utf8Encode(text);
  const verified: OpenedNote["verified"] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const line of sigLines) {
    const s = parseSignatureLine(line);
    const matches = verifiers.filter((v) => v.name === s.name && bytesEqual(v.keyId, s.keyId));
    if (matches.length === 0) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverified.push({ name: s.name, keyId: s.keyId, base64: s.base64 });
      }
      continue;
    }
    const id = `${s.name}+${hexEncode(s.keyId)}`;
    if (matches.length > 1) throw new TrailError("ambiguous-key", `ambiguous key ${id}`);
    if (seen.has(id)) continue;
    seen.add(id);
    const v = matches[0]!;
    if (!v.verify(msg, s.sig))
      throw new TrailError("bad-signature", `invalid signature for key ${id}`);
    verified.push({ name: s.name, keyId: s.keyId, base64: s.base64, verifier: v });
  }
  if (verified.length === 0) {
    throw new TrailError("unverified", "note has no signature by a trusted key");
  }
  return { text, verified, unverified };
}
