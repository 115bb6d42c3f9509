// Test-only entry point: starts the log as `tmuxtrail serve` would (port 0, 100 ms checkpoints),
// with a fault hook that kills this process with SIGKILL, as kill -9 would, at one durable step,
// the first time that step is reached once `after` integrations have committed. Run by
// test/support/fault-log.ts; the fault is passed in to startLogServer, never read by src/ from the env.
//
//   node --import tsx test/support/fault-log-main.ts --step integrating --after 3 --data DIR
//        [--database-url URL --database-schema NAME]

import { parseArgs } from "node:util";
import { startLogServer } from "../../src/api/log-server.ts";
import { DEFAULTS } from "../../src/server/config.ts";
import type { DurableStep, FaultHook } from "../../src/server/fault-hook.ts";
import { ADMIN } from "./log.ts";

const { values: v } = parseArgs({
  options: {
    step: { type: "string" },
    after: { type: "string" },
    data: { type: "string" },
    "database-url": { type: "string" },
    "database-schema": { type: "string" },
  },
});
const step = v.step as DurableStep;
const after = Number(v.after ?? "1");

let integrated = 0;
const fault: FaultHook = (at) => {
  if (at === "integrated") integrated++;
  if (at === step && integrated >= after) {
    console.error(`fault-log: kill -9 at ${at} after ${integrated} integrations`);
    process.kill(process.pid, "SIGKILL");
  }
};

const running = await startLogServer(
  {
    ...DEFAULTS,
    port: 0,
    dataDir: v.data!,
    databaseUrl: v["database-url"],
    databaseSchema: v["database-schema"],
    adminToken: ADMIN,
    checkpointIntervalMs: 100,
    witnesses: [],
    witnessQuorum: 0,
  },
  console.error,
  { fault },
);
console.log(`tmuxtrail log listening on ${running.url}`);
console.log(`  verifier key  ${running.verifierKey}`);
process.once("SIGTERM", () => void running.close().then(() => process.exit(0)));
