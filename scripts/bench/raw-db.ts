// Raw PostgreSQL limits for `npm run bench`: rows/s of multi-row INSERT and of binary-free COPY
// (text format through postgres.js) for rows shaped like one event (a ~600-byte leaf and a
// ~1 KB payload keyed by a 32-byte hash), on a reserved connection, in a scratch table.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";

export async function rawInsertRates(url: string, schema: string, seconds: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
  await sql`CREATE TABLE IF NOT EXISTS bench_raw (h bytea PRIMARY KEY, leaf bytea NOT NULL, content bytea NOT NULL)`;
  const leaf = randomBytes(600);
  const content = randomBytes(1100);
  const batch = 1000;
  const rowsOf = () => Array.from({ length: batch }, () => ({ h: randomBytes(32), leaf, content }));
  let n = 0;
  let t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await sql`INSERT INTO bench_raw ${sql(rowsOf(), "h", "leaf", "content")}`;
    n += batch;
  }
  const insert = (n * 1000) / (performance.now() - t0);
  n = 0;
  t0 = performance.now();
  const hex = (b: Buffer) => `\\\\x${b.toString("hex")}`;
  while (performance.now() - t0 < seconds * 1000) {
    const lines = rowsOf().map((r) => `${hex(r.h)}\t${hex(r.leaf)}\t${hex(r.content)}\n`);
    const w = await sql`COPY bench_raw (h, leaf, content) FROM STDIN`.writable();
    await pipeline(Readable.from([lines.join("")]), w);
    n += batch;
  }
  const copy = (n * 1000) / (performance.now() - t0);
  await sql`DROP TABLE bench_raw`;
  await sql.end();
  return { insert, copy };
}
