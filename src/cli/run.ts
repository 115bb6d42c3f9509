// Runs the CLI in this process (for `node --import tsx src/cli/run.ts …`, e.g. under a profiler).
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
