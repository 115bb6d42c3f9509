// `tmuxtrail sessions list`: the sessions a log holds, filtered, newest first.

import { jsonLine, printable } from "../core/printable.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";
import { readToken, requestJson } from "./log-api.ts";

export interface SessionInfo {
  id: string;
  host: string;
  server: string;
  session: string;
  user: string;
  firstIndex: number;
  lastIndex: number;
  start: string;
  end: string;
  events: number;
}

export const sessions: Command = {
  name: "sessions",
  help: `Usage: tmuxtrail sessions list --log URL --token-file FILE [--host H] [--user U]
                              [--since T] [--until T] [--command TEXT] [--limit N] [--json]

Lists sessions newest first: id, host, user, tmux session, time span, events. Times are RFC 3339
or YYYY-MM-DD. --command finds sessions that ran a command line containing TEXT (case-insensitive;
erased content is not searched). --json prints an array of objects, each with the session's "id"
(for tmuxtrail export and the web UI).

  --log URL          the log (default http://127.0.0.1:8080)
  --token-file FILE  a read token (else $TMUXTRAIL_TOKEN)`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== "list") throw new UsageError(sub ? `unknown subcommand "${sub}"` : "expected list");
    const { values: v } = parseFlags(rest, {
      log: { type: "string" },
      "token-file": { type: "string" },
      host: { type: "string" },
      user: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      command: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    });
    const q = new URLSearchParams();
    for (const k of ["host", "user", "since", "until", "command", "limit"] as const) {
      if (v[k] !== undefined) q.set(k, v[k]!);
    }
    const list = await requestJson<SessionInfo[]>(
      v.log ?? "http://127.0.0.1:8080",
      `/v1/sessions${q.size ? `?${q}` : ""}`,
      { token: readToken(v["token-file"]) },
    );
    if (v.json) {
      console.log(jsonLine(list));
      return 0;
    }
    if (list.length === 0) console.log("no sessions match");
    for (const s of list) {
      console.log(
        printable(
          `${s.id}  ${s.host}  ${s.user}  ${s.session}  ${s.start} .. ${s.end}  ${s.events} events`,
        ),
      );
    }
    return 0;
  },
};
