// RFC 6962 §2.1 / RFC 9162 §2.1.1 hashing:
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty root = SHA-256("")
// The Hasher is a value so the server can plug in node:crypto (src/lib/node-hasher.ts, 1.3-1.7x
// faster than @noble/hashes for 64/65-byte inputs on Node 20) while everything the browser runs
// keeps the isomorphic default built on @noble/hashes.

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

export type Hash = Uint8Array;
export const HASH_SIZE = 32;

export interface Hasher {
  /** SHA-256 of arbitrary bytes. */
  digest(data: Uint8Array): Hash;
  /** SHA-256(0x00 || leaf). */
  leaf(leaf: Uint8Array): Hash;
  /** SHA-256(0x01 || left || right); `left` and `right` are usually 32-byte hashes. */
  node(left: Uint8Array, right: Uint8Array): Hash;
  /** SHA-256 of the empty string: the root of the empty tree. */
  emptyRoot(): Hash;
}

/** Builds a Hasher from a one-shot SHA-256 function. */
export function makeHasher(sha256: (data: Uint8Array) => Uint8Array): Hasher {
  const empty = sha256(new Uint8Array(0));
  return {
    digest: sha256,
    leaf(leaf) {
      const buf = new Uint8Array(1 + leaf.length);
      buf.set(leaf, 1);
      return sha256(buf);
    },
    node(left, right) {
      const buf = new Uint8Array(1 + left.length + right.length);
      buf[0] = 1;
      buf.set(left, 1);
      buf.set(right, 1 + left.length);
      return sha256(buf);
    },
    emptyRoot: () => empty.slice(),
  };
}

/** The isomorphic default (@noble/hashes): used by verifiers, the browser and the CLI. */
export const rfc6962: Hasher = makeHasher((d) => nobleSha256(d));

export const sha256 = (data: Uint8Array): Hash => nobleSha256(data);
