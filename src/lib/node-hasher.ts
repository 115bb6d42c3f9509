// The server's Hasher: node:crypto's SHA-256, the faster of the two for the 64/65-byte inputs of
// leaf and node hashing (`npm run bench:core` prints both; docs/performance.md). It lives outside
// src/core, which stays isomorphic: browsers and verifiers use `rfc6962` from hash.ts.

import { createHash } from "node:crypto";
import { type Hasher, makeHasher } from "../core/hash.ts";

export const nodeHasher: Hasher = makeHasher((data) => {
  const d = createHash("sha256").update(data).digest();
  // A plain Uint8Array view (no copy), so callers get Uint8Array semantics (slice copies).
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
});
