// A Map that forgets its least recently used entries beyond `max`: the bounded caches of tiles and
// node hashes (both immutable once complete, so a cached value is never stale).

export class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  delete(k: K): void {
    this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }
}
