// Passing many byte strings to one statement on both drivers. postgres.js cannot bind a JS array of
// byte strings as bytea[] in unsafe queries, so a column of byte strings travels as ONE bytea blob
// plus int4[] offsets and lengths, and SQL slices it: substring(blob FROM off+1 FOR len).
// Example: leaves ["ab", "", "cde"] → blob "abcde", offs [0,2,2], lens [2,0,3].

export interface PackedBytes {
  blob: Uint8Array;
  offs: number[];
  lens: number[];
}

export function packBytes(items: readonly Uint8Array[]): PackedBytes {
  let total = 0;
  for (const it of items) total += it.length;
  const blob = new Uint8Array(total);
  const offs: number[] = new Array(items.length);
  const lens: number[] = new Array(items.length);
  let o = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    blob.set(it, o);
    offs[i] = o;
    lens[i] = it.length;
    o += it.length;
  }
  return { blob, offs, lens };
}

/** Concatenates fixed-size hashes: slice i is substring(blob FROM i*32+1 FOR 32). */
export function packHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32);
  for (let i = 0; i < hashes.length; i++) out.set(hashes[i]!, i * 32);
  return out;
}
