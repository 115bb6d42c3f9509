// `tmuxtrail witness`: runs an independent witness (C2SP tlog-witness) with its own key and state.

import { surviveLostConnections } from "../db/sql.ts";
import { privateDataDir } from "../lib/private-dir.ts";
import { parseDuration } from "../server/config.ts";
import { parseLogSpec, startWitness } from "../witness/witness.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

export const witness: Command = {
  name: "witness",
  help: `Usage: tmuxtrail witness --log <origin>=<vkey>[@<url>] ... [flags]

Cosigns checkpoints of the logs it is configured with (C2SP tlog-witness POST /add-checkpoint)
only when they are consistent with the last one it cosigned, and never a smaller tree. With a
log URL it also follows the log itself (polling /checkpoint and checking consistency from the
log's hash tiles). With --peer it compares its checkpoints with other witnesses'; two validly
signed, inconsistent checkpoints are a fork: kept as evidence (GET /v1/evidence), alerted, and
the witness cosigns nothing further for that log.

A witness following a log keeps the log's hash tiles that hash to a checkpoint it cosigned and
serves them at /<hex SHA-256(origin)>/tile/... (C2SP tlog-tiles), so a peer can compare its head
with this one even when the log withholds its tiles (a witness given no log URL keeps none; its
peers then read the log's). A peer's head that cannot be compared (tiles
withheld everywhere, the peer unreachable) is counted in tmuxtrail_witness_unreconciled_heads,
logged each round, and once it stays so for --reconcile-deadline, alerted; this witness then
cosigns nothing beyond the size it already cosigned for that log (add-checkpoint answers 503)
until the comparison completes.

Flags:
  --log SPEC              <origin>=<log verifier key>[@<log URL>], repeatable (required)
  --port N                listen port (default 8081)
  --host ADDR             listen address (default 127.0.0.1)
  --data DIR              state and key directory (default ./witness-data)
  --key FILE              signer key (default <data>/witness.key, created on first start)
  --name NAME             key name when a key is created (default witness.local/<hostname>)
  --database-url URL      PostgreSQL for the state instead of the embedded database; a role that
                          owns nothing works once \`tmuxtrail migrate --witness --grant-runtime ROLE\`
                          ran as the owner (docs/operations.md, "PostgreSQL roles")
  --database-schema NAME  PostgreSQL schema (default public)
  --peer URL              another witness to gossip with, repeatable
  --gossip-interval D     how often to gossip (default 10s)
  --poll-interval D       how often to poll logs with a URL (default 5s)
  --alert-url URL         POST a JSON alert here when a fork is found ({"event":"fork",...}) or
                          when cosigning is held for an uncompared head ({"event":"unreconciled"})
  --reconcile-deadline D  how long a peer's head may stay uncompared before cosigning beyond
                          this witness's size is held (default 5m)

Prints the witness's cosignature verifier key: give it to logs (serve --witness <key>@<url>)
and to verifiers (--witness-key).`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      log: { type: "string", multiple: true },
      port: { type: "string" },
      host: { type: "string" },
      data: { type: "string" },
      key: { type: "string" },
      name: { type: "string" },
      "database-url": { type: "string" },
      "database-schema": { type: "string" },
      peer: { type: "string", multiple: true },
      "gossip-interval": { type: "string" },
      "poll-interval": { type: "string" },
      "alert-url": { type: "string" },
      "reconcile-deadline": { type: "string" },
    });
    if (!v.log?.length)
      throw new UsageError("at least one --log <origin>=<vkey>[@<url>] is required");
    let logs: ReturnType<typeof parseLogSpec>[];
    let gossip: number;
    let poll: number;
    let reconcile: number;
    try {
      logs = v.log.map(parseLogSpec);
      gossip = parseDuration(v["gossip-interval"] ?? "10s", "--gossip-interval");
      poll = parseDuration(v["poll-interval"] ?? "5s", "--poll-interval");
      reconcile = parseDuration(v["reconcile-deadline"] ?? "5m", "--reconcile-deadline");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (v.port !== undefined && !/^\d+$/.test(v.port))
      throw new UsageError("--port must be a number");
    surviveLostConnections((m) => console.error(`tmuxtrail witness: ${m}`));
    privateDataDir(v.data ?? "./witness-data", (m) => console.error(`tmuxtrail witness: ${m}`));
    const w = await startWitness({
      port: Number(v.port ?? 8081),
      host: v.host ?? "127.0.0.1",
      dataDir: v.data ?? "./witness-data",
      createEmbeddedApart: true,
      keyFile: v.key,
      name: v.name,
      databaseUrl: v["database-url"],
      databaseSchema: v["database-schema"],
      logs,
      peers: v.peer ?? [],
      alertUrl: v["alert-url"],
      gossipIntervalMs: gossip,
      pollIntervalMs: poll,
      reconcileDeadlineMs: reconcile,
      // The restart drill of test/e2e/witness.test.ts, set at this edge only: die once a
      // cosigned state is durable, before answering.
      afterCommit:
        process.env.TMUXTRAIL_FAULT === "witness-after-commit"
          ? () => process.kill(process.pid, "SIGKILL")
          : undefined,
    });
    console.log(`tmuxtrail witness listening on ${w.url}`);
    console.log(`  cosignature key  ${w.cosignatureKey}`);
    for (const l of logs)
      console.log(`  log              ${l.origin}${l.url ? ` (following ${l.url})` : ""}`);
    await new Promise<void>((resolve) => {
      const stop = () => w.close().then(resolve, resolve);
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    return 0;
  },
};
