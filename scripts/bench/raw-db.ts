// Raw PostgreSQL limits for `npm run bench`: rows/s of multi-row INSERT and of binary COPY (on a
// reserved connection) for rows shaped like one event's entry and payload (a 32-byte key, a
// ~600-byte leaf, ~1.1 KB of content), into a scratch table with a primary key.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";

/** PostgreSQL's binary COPY format: header, rows of (int16 count, (int32 len, bytes)*), trailer. */
function copyBinary(rows: Buffer[][]): Buffer {
  const parts: Buffer[] = [Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)];
  for (const r of rows) {
    const head = Buffer.alloc(2);
    head.writeInt16BE(r.length);
    parts.push(head);
    for (const f of r) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(f.length);
      parts.push(len, f);
    }
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  parts.push(trailer);
  return Buffer.concat(parts);
}

export async function rawInsertRates(url: string, schema: string, seconds: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
  await sql`CREATE TABLE IF NOT EXISTS bench_raw (h bytea PRIMARY KEY, leaf bytea NOT NULL, content bytea NOT NULL)`;
  const leaf = randomBytes(600);
  const content = randomBytes(1100);
  const batch = 1000;
  const rowsOf = () => Array.from({ length: batch }, () => [randomBytes(32), leaf, content]);
  let n = 0;
  let t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const rows = rowsOf().map(([h, l, c]) => ({ h, leaf: l, content: c }));
    await sql`INSERT INTO bench_raw ${sql(rows, "h", "leaf", "content")}`;
    n += batch;
  }
  const insert = (n * 1000) / (performance.now() - t0);
  const reserved = await sql.reserve();
  n = 0;
  t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const w =
      await reserved`COPY bench_raw (h, leaf, content) FROM STDIN (FORMAT binary)`.writable();
    await pipeline(Readable.from([copyBinary(rowsOf() as Buffer[][])]), w);
    n += batch;
  }
  const copy = (n * 1000) / (performance.now() - t0);
  reserved.release();
  await sql`DROP TABLE bench_raw`;
  await sql.end();
  return { insert, copy };
}
