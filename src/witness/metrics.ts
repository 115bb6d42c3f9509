// The witness's own metrics (GET /metrics on the witness, Prometheus text, public: a witness holds
// nothing secret). Counters count what this process saw since it started; the two gauges are read
// from the witness's database at each scrape, so they survive restarts.
//
//   tmuxtrail_witness_bad_tiles_total{origin}    a log's own hash tiles did not reproduce a
//                                                checkpoint it signed: a lying or broken tile
//                                                server (or a man in the middle), not a fork; that
//                                                checkpoint was not cosigned, the next poll retries
//   tmuxtrail_witness_unreachable_total{origin}  polling a log failed (refused, timed out, an HTTP
//                                                error or a tile it does not serve)
//   tmuxtrail_witness_fork_evidence{origin}      pieces of fork evidence held for the log (> 0: it
//                                                cosigns nothing further for it)
//   tmuxtrail_witness_cosigned_size{origin}      the tree size it last cosigned
//   tmuxtrail_witness_unreconciled_heads{origin} peers' heads for the log it could not compare with
//                                                its own (tiles withheld, peer unreachable, a
//                                                timeout): alert when above 0 for a few rounds
//   tmuxtrail_witness_cosigning_held{origin}     1 while one of them that names a head the peer
//                                                served signed by the log is older than the
//                                                reconcile deadline: nothing beyond its size is
//                                                cosigned (an unreachable or junk-serving peer is
//                                                counted above and alerted, never a hold)

import type { Sql } from "../db/sql.ts";
import { Counter, Gauge, Registry } from "../lib/metrics.ts";

export function witnessMetrics() {
  const r = new Registry();
  return {
    registry: r,
    badTiles: r.register(
      new Counter(
        "tmuxtrail_witness_bad_tiles_total",
        "Checkpoints not cosigned because the log's own hash tiles did not reproduce them (a lying or broken tile server, not a fork)",
      ),
    ),
    unreachable: r.register(
      new Counter(
        "tmuxtrail_witness_unreachable_total",
        "Polls of a log that failed: unreachable, timed out, an HTTP error, or a tile not served",
      ),
    ),
    forkEvidence: r.register(
      new Gauge(
        "tmuxtrail_witness_fork_evidence",
        "Pieces of fork evidence held per log; above 0 the witness cosigns nothing further for it",
      ),
    ),
    cosignedSize: r.register(
      new Gauge("tmuxtrail_witness_cosigned_size", "The tree size this witness last cosigned"),
    ),
    unreconciledHeads: r.register(
      new Gauge(
        "tmuxtrail_witness_unreconciled_heads",
        "Peers' heads for the log not yet compared with this witness's own (tiles withheld, peer unreachable, timeout)",
      ),
    ),
    cosigningHeld: r.register(
      new Gauge(
        "tmuxtrail_witness_cosigning_held",
        "1 while a peer's head stays uncompared past the reconcile deadline: nothing beyond the cosigned size is cosigned",
      ),
    ),
  };
}

export type WitnessMetrics = ReturnType<typeof witnessMetrics>;

/** The Prometheus text, with the gauges read from the database now. */
export async function renderWitnessMetrics(
  sql: Sql,
  m: WitnessMetrics,
  origins: Iterable<string>,
  hold: { now: number; deadline: number },
): Promise<string> {
  const sizes = await sql.query<{ origin: string; size: number }>(
    "SELECT origin, size FROM witness_logs",
  );
  const forks = await sql.query<{ origin: string; n: number }>(
    "SELECT origin, count(*)::int AS n FROM evidence GROUP BY origin",
  );
  const open = await sql.query<{ origin: string; n: number; oldest: number | null }>(
    `SELECT origin, count(*)::int AS n,
            extract(epoch FROM min(since) FILTER (WHERE peer_size IS NOT NULL))::float8 AS oldest
       FROM witness_unreconciled GROUP BY origin`,
  );
  for (const origin of origins) {
    const u = open.find((o) => o.origin === origin);
    m.unreconciledHeads.set(Number(u?.n ?? 0), { origin });
    m.cosigningHeld.set(
      u && u.oldest !== null && Number(u.oldest) + hold.deadline <= hold.now ? 1 : 0,
      { origin },
    );
    m.forkEvidence.set(Number(forks.find((f) => f.origin === origin)?.n ?? 0), { origin });
    const size = sizes.find((s) => s.origin === origin)?.size;
    if (size !== undefined) m.cosignedSize.set(Number(size), { origin });
  }
  return m.registry.render();
}
