// The server's Hasher: node:crypto's SHA-256, the faster of the two for the 64/65-byte inputs of
// leaf and node hashing (`npm run bench:core` prints both; docs/performance.md). It lives outside
// src/core, which stays isomorphic: browsers and verifiers use `rfc6962` from hash.ts.

import { hash } from "node:crypto";
import { type Hasher, makeHasher } from "../core/hash.ts";

// crypto.hash (Node 20.12+) is one call with no Hash object: 1.7x createHash().update().digest()
// on 65-byte inputs, and a verifier of a long session's bundle makes three per event.
export const nodeHasher: Hasher = makeHasher((data) => {
  const d = hash("sha256", data, "buffer");
  // A plain Uint8Array view (no copy), so callers get Uint8Array semantics (slice copies).
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
});
