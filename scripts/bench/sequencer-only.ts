// The sequencer alone on PostgreSQL, for `npm run bench`: what the database path of ingest does
// without HTTP, JSON or validation. Events are parsed and hashed before the clock starts; 16
// submissions of 200 are in flight, as with the bench's agents (4 × 4 × 200). Their content is this
// machine's terminal text (terminal-corpus.ts), one event in twenty a command.

import { readFileSync } from "node:fs";
import { parseSubmission } from "../../src/core/events.ts";
import { initLogState, migratePostgresUrl } from "../../src/db/migrate.ts";
import { connectPostgres } from "../../src/db/sql.ts";
import { nodeHasher } from "../../src/lib/node-hasher.ts";
import { eventInput, type LeafInput } from "../../src/server/sequencer/input.ts";
import { Sequencer } from "../../src/server/sequencer.ts";
import { makeSubmission } from "../../test/support/events.ts";
import { chunks } from "./terminal-corpus.ts";

export async function sequencerOnlyRate(
  url: string,
  schema: string,
  corpusFile: string,
  events = 120_000,
): Promise<{ rate: number; meanBatch: number }> {
  await migratePostgresUrl(url, schema);
  const sql = connectPostgres(url, { schema, max: 10 });
  try {
    await initLogState(sql);
    const batches: number[] = [];
    const seq = new Sequencer(sql, {
      maxBatch: 4000,
      lingerMs: 2,
      hasher: nodeHasher,
      onBatch: (b) => batches.push(b.leaves),
    });
    const corpus = chunks(readFileSync(corpusFile));
    const subs: LeafInput[][] = [];
    for (let s = 0; s * 200 < events; s++) {
      subs.push(
        Array.from({ length: 200 }, (_, i) => {
          const n = s * 200 + i;
          const command = n % 20 === 19;
          const j = makeSubmission({
            host: `seq-${s % 4}`,
            pane: `%${s % 16}`,
            session: `$${s % 4}`,
            seq: Math.floor(s / 16) * 200 + i,
            type: command ? "command" : "output",
            content: command
              ? JSON.stringify({
                  cwd: "/srv",
                  end: "2026-11-25T10:00:01.000Z",
                  exit: 0,
                  line: `make ${n}`,
                  start: "2026-11-25T10:00:00.000Z",
                })
              : corpus[n % corpus.length]!.toString("utf8"),
          });
          const p = parseSubmission(j);
          return eventInput(p.meta, p.leaf, nodeHasher, { salt: p.salt!, content: p.content! });
        }),
      );
    }
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; i < subs.length; i += 16) await seq.submit(subs[i]!);
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await seq.close();
    return {
      rate: (subs.length * 200) / seconds,
      meanBatch: batches.reduce((a, b) => a + b, 0) / batches.length,
    };
  } finally {
    await sql.close();
  }
}
