// The log's metrics (GET /metrics), on the registry of lib/metrics.ts.

import { Counter, Gauge, Histogram, memoryGauge, Registry } from "../lib/metrics.ts";

/** The log's metrics. */
export function logMetrics() {
  const r = new Registry();
  return {
    registry: r,
    leaves: r.register(
      new Counter("tmuxtrail_leaves_total", "Leaves appended to the tree by this process"),
    ),
    duplicates: r.register(
      new Counter("tmuxtrail_duplicates_total", "Submitted leaves already in the tree"),
    ),
    conflicts: r.register(new Counter("tmuxtrail_conflicts_total", "Submissions refused with 409")),
    treeSize: r.register(
      new Gauge("tmuxtrail_tree_size", "Leaves in the tree at the last batch or checkpoint"),
    ),
    batchSize: r.register(
      new Histogram(
        "tmuxtrail_batch_leaves",
        "Leaves per integrated batch",
        [1, 10, 100, 500, 1000, 2000, 5000],
      ),
    ),
    integrationSeconds: r.register(
      new Histogram(
        "tmuxtrail_integration_seconds",
        "Time from a batch's cut to its commit",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      ),
    ),
    checkpointAge: r.register(
      new Gauge(
        "tmuxtrail_checkpoint_age_seconds",
        "Seconds since this process last found every committed leaf covered by a checkpoint (signed by any process)",
      ),
    ),
    checkpointSize: r.register(
      new Gauge("tmuxtrail_checkpoint_size", "Tree size of the newest checkpoint"),
    ),
    memory: r.register(memoryGauge()),
    requests: r.register(
      new Counter("tmuxtrail_http_requests_total", "HTTP requests by route and status"),
    ),
    denied: r.register(
      new Counter(
        "tmuxtrail_denied_total",
        "Requests refused with 401 or 403, by status, key and client address",
      ),
    ),
    witnessAlarms: r.register(
      new Counter(
        "tmuxtrail_witness_alarms_total",
        "Witness refusals of our checkpoints (403/404/422) and bad cosignatures",
      ),
    ),
    witnessSize: r.register(
      new Gauge("tmuxtrail_witness_size", "The tree size each witness last cosigned"),
    ),
  };
}

export type LogMetrics = ReturnType<typeof logMetrics>;
