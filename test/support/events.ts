// Building valid tmux event submissions for tests, by hand (independent of src/core/events.ts, so
// the tests check the schema rather than reuse it).

import { createHash, randomBytes } from "node:crypto";

export interface EventOpts {
  host?: string;
  server?: string;
  session?: string;
  window?: string;
  pane?: string;
  user?: string;
  seq: number;
  type?: string;
  time?: string;
  content?: string;
  salt?: Buffer;
}

export function makeSubmission(o: EventOpts): Record<string, unknown> {
  const type = o.type ?? "output";
  const meta: Record<string, unknown> = {
    v: 1,
    host: o.host ?? "web-1",
    server: o.server ?? "default@1764050000",
    session: o.session ?? "$1",
    window: o.window ?? "@2",
    pane: o.pane ?? "%3",
    user: o.user ?? "alice",
    seq: o.seq,
    time: o.time ?? new Date(Date.UTC(2026, 10, 24, 19, 0, 0, o.seq % 1000)).toISOString(),
    type,
  };
  if (type === "output" || type === "command") {
    const content = o.content ?? `line ${o.seq}\r\n`;
    const salt = o.salt ?? randomBytes(32);
    const bytes = Buffer.from(content, "utf8");
    meta.payload = {
      size: bytes.length,
      sha256: createHash("sha256").update(salt).update(bytes).digest("base64"),
    };
    return { ...meta, content, salt: salt.toString("base64") };
  }
  return meta;
}

export function makeBatch(n: number, from = 0, o: Partial<EventOpts> = {}) {
  return Array.from({ length: n }, (_, i) => makeSubmission({ ...o, seq: from + i }));
}
