// The asciicast v2 recording of a session's panes, regenerated from verified events. A bundle
// carries one per pane (src/core/session-bundle.ts) and verification (session-bundle-verify.ts)
// rebuilds each from the events and compares them byte for byte, so the builder is deterministic:
// same events, same text.

import type { EventMeta } from "./events.ts";

/** An event as the cast builder sees it: verified metadata and content, or who erased it. */
export interface CastInput {
  meta: EventMeta;
  content: Uint8Array | null;
  erasedBy?: number;
}

const castTime = (s: number) => Math.round(s * 1e6) / 1e6;

/**
 * The asciicast v2 recording of each pane that printed (pane ≠ "-") from its events in stream order: output as
 * "o" (bytes decoded as one UTF-8 stream per pane, so a character split across events survives),
 * resizes as "r", erased output as a visible marker. Deterministic: the same events give the same
 * text, which is how verification compares a bundle's casts with its events.
 */
export function buildCasts(events: readonly CastInput[]): Record<string, string> {
  const byPane = new Map<string, CastInput[]>();
  for (const e of events) {
    // Panes without output (and the log's own access and erasure streams) have nothing to play.
    if (e.meta.pane === "-") continue;
    const list = byPane.get(e.meta.pane) ?? [];
    list.push(e);
    byPane.set(e.meta.pane, list);
  }
  const casts: Record<string, string> = {};
  for (const [pane, list] of [...byPane].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!list.some((e) => e.meta.type === "output" || e.meta.type === "resize")) continue;
    list.sort((a, b) => a.meta.seq - b.meta.seq);
    const t0 = Date.parse(list[0]!.meta.time);
    const sized = list.find((e) => e.meta.size);
    const header = {
      version: 2,
      width: sized?.meta.size?.cols || 80,
      height: sized?.meta.size?.rows || 24,
      timestamp: Math.floor(t0 / 1000),
      title: `${list[0]!.meta.host} ${list[0]!.meta.session} ${pane}`,
    };
    const lines = [JSON.stringify(header)];
    const decoder = new TextDecoder("utf-8", { fatal: false });
    let last = 0;
    const push = (e: CastInput, code: string, data: string) => {
      last = Math.max(last, castTime((Date.parse(e.meta.time) - t0) / 1000));
      lines.push(JSON.stringify([last, code, data]));
    };
    for (const e of list) {
      if (e.meta.type === "resize" && e.meta.size) {
        push(e, "r", `${e.meta.size.cols}x${e.meta.size.rows}`);
      } else if (e.meta.type === "output") {
        if (e.content) {
          const text = decoder.decode(e.content, { stream: true });
          if (text) push(e, "o", text);
        } else {
          const rest = decoder.decode();
          push(e, "o", `${rest}\r\n[content erased by event #${e.erasedBy ?? "?"}]\r\n`);
        }
      }
    }
    const tail = decoder.decode();
    if (tail) lines.push(JSON.stringify([last, "o", tail]));
    casts[pane] = `${lines.join("\n")}\n`;
  }
  return casts;
}
