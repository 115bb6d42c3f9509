// The events capture makes of one tmux server, as spool lines. Each event takes the next seq of
// its stream (host, server, pane) from the spool, so a round that cannot be spooled gives its
// numbers back (Spool.mark/restore); its salt is chosen here, once, so a retry sends the identical
// event. A line that records how far a file became events carries that mark (`raw`: a pane's raw
// output file, hooks.log, commands.log, or the `#session:`/`#window:` a restarted agent must not
// announce again).

import { randomBytes } from "node:crypto";
import { type EventMeta, makeSubmission } from "../core/events.ts";
import { outputPieces } from "./output-chunks.ts";
import type { RedactionPattern } from "./redact.ts";
import { type Spool, type SpoolLine, streamKey } from "./spool.ts";
import type { PaneInfo } from "./tmux.ts";

export interface CaptureEventOptions {
  spool: Spool;
  host: string;
  user: string;
  serverId: string;
  patterns: RedactionPattern[];
  maxChunk: number;
}

export type CaptureMeta = ReturnType<CaptureEvents["meta"]>;

export class CaptureEvents {
  constructor(private readonly o: CaptureEventOptions) {}

  /** The common fields of an event of `pane` ("-" for a session's or window's own events). */
  meta(
    type: EventMeta["type"],
    pane: string,
    info?: { session: string; window: string },
    time = new Date(),
  ) {
    const server = this.o.serverId;
    return {
      v: 1 as const,
      host: this.o.host,
      server,
      session: info?.session ?? "-",
      window: info?.window ?? "-",
      pane,
      user: this.o.user,
      seq: this.o.spool.nextSeq(streamKey({ host: this.o.host, server, pane })),
      time: time.toISOString(),
      type,
    };
  }

  event(
    meta: CaptureMeta & Record<string, unknown>,
    content?: Buffer,
    raw?: SpoolLine["raw"],
  ): SpoolLine {
    const sub = makeSubmission(
      meta as EventMeta,
      content,
      new Uint8Array(randomBytes(32)),
    ) as SpoolLine["sub"];
    return raw ? { sub, raw } : { sub };
  }

  /** Output events of `data` (see output-chunks.ts); `rawEnd` is the raw file's offset after it. */
  output(
    pane: string,
    data: Buffer,
    info?: PaneInfo,
    rawEnd?: number,
    known?: [number, number][],
    context: Buffer = Buffer.alloc(0),
  ): SpoolLine[] {
    const pieces = outputPieces(data, this.o.patterns, this.o.maxChunk, known, context);
    return pieces.map(({ content, redactions, end }) => {
      const raw = rawEnd === undefined ? undefined : { pane, end: rawEnd - (data.length - end) };
      const meta = {
        ...this.meta("output", pane, info),
        ...(redactions.length ? { redactions } : {}),
      };
      return this.event(meta, content, raw);
    });
  }
}
