// `tmuxtrail erase --session ID | --before DATE --reason TEXT`: deletes session content (payloads
// only) through the log's admin API; the log records an erasure event naming what went and why,
// and every proof still verifies.

import { type Command, parseFlags, UsageError } from "./command.ts";
import { adminToken, requestJson } from "./log-api.ts";

export const eraseCommand: Command = {
  name: "erase",
  help: `Usage: tmuxtrail erase (--session ID | --before DATE) --reason TEXT [--log URL] [--token-file FILE] [--json]

Deletes the content (pane output, command lines) and salts of one session, or of every event
older than DATE (RFC 3339 time or YYYY-MM-DD), for GDPR requests and retention rules. The leaves
stay in the tree, so every proof and every checkpoint still verifies; the log first appends an
erasure event naming the erased indexes, your key and the reason, so auditors can tell an erasure
from tampering, and bundles show "content erased by event #N" where the content was.

Flags:
  --session ID       the session id (from tmuxtrail sessions list)
  --before DATE      every event before this time
  --reason TEXT      why (recorded in the log; required)
  --log URL          the log (default http://127.0.0.1:8080)
  --token-file FILE  an admin token (default $TMUXTRAIL_ADMIN_TOKEN, else ./data/admin.token,
                     else $TMUXTRAIL_TOKEN)
  --json             print the answer as JSON

For a standing policy, run the log with \`serve --retention 90d\` instead.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      session: { type: "string" },
      before: { type: "string" },
      reason: { type: "string" },
      log: { type: "string" },
      "token-file": { type: "string" },
      json: { type: "boolean" },
    });
    if ((v.session === undefined) === (v.before === undefined)) {
      throw new UsageError("give exactly one of --session and --before");
    }
    if (!v.reason) throw new UsageError("--reason is required (it is recorded in the log)");
    const result = await requestJson<{ erased: number; events: number[] }>(
      v.log ?? "http://127.0.0.1:8080",
      "/v1/erasures",
      {
        method: "POST",
        ...adminToken(v["token-file"]),
        json: {
          ...(v.session ? { session: v.session } : { before: v.before }),
          reason: v.reason,
        },
      },
    );
    if (v.json) console.log(JSON.stringify(result));
    else if (result.erased === 0) console.log("nothing to erase: no content left in that scope");
    else {
      console.log(
        `erased the content of ${result.erased} events; recorded by erasure event${result.events.length > 1 ? "s" : ""} #${result.events.join(", #")}`,
      );
    }
    return 0;
  },
};
