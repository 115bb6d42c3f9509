// The server's Hasher: node:crypto's SHA-256, measured ~1.7x faster than @noble/hashes for the
// 64/65-byte inputs of leaf and node hashing (scripts/bench-core.ts prints both). Server-only:
// the browser bundle must never import this file; it uses `rfc6962` from hash.ts.

import { createHash } from "node:crypto";
import { type Hasher, makeHasher } from "./hash.ts";

export const nodeHasher: Hasher = makeHasher((data) => {
  const d = createHash("sha256").update(data).digest();
  // A plain Uint8Array view (no copy), so callers get Uint8Array semantics (slice copies).
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
});
