// Stream completeness (docs/design.md §2.3): within a stream (host, server, pane), seq counts 0, 1,
// 2, … with no gap and no duplicate. The tree may hold a stream out of order (agents retry), so
// the tracker keeps, per stream, the next seq it expects plus the seqs seen ahead of it; a seq
// below the expected one, or seen ahead twice, is a duplicate. At the end, seqs still waiting
// ahead mean the ones before them are missing. A stream whose last event is not a close event is
// simply still open: not an error.
//
// Memory is one small record per stream, plus the out-of-order seqs, which are few in a healthy
// log (a gap keeps every later seq of its stream waiting, but a gap is already a finding).

import { type Findings, streamName } from "./findings.ts";
import type { LeafEvent } from "./leaf-event.ts";

interface StreamState {
  name: string;
  next: number;
  ahead?: Set<number>;
}

export class StreamTracker {
  private readonly streams = new Map<string, StreamState>();

  constructor(private readonly findings: Findings) {}

  get count(): number {
    return this.streams.size;
  }

  /** Records event `ev` found at leaf `index`. */
  see(ev: LeafEvent, index: number): void {
    const key = `${ev.host}\u0000${ev.server}\u0000${ev.pane}`;
    let s = this.streams.get(key);
    if (!s) {
      s = { name: streamName(ev), next: 0 };
      this.streams.set(key, s);
    }
    const seq = ev.seq;
    if (seq === s.next) {
      s.next++;
      if (s.ahead) {
        while (s.ahead.delete(s.next)) s.next++;
        if (s.ahead.size === 0) s.ahead = undefined;
      }
    } else if (seq < s.next || s.ahead?.has(seq)) {
      this.findings.add({
        kind: "stream",
        stream: s.name,
        index,
        message: `stream ${s.name}: seq ${seq} appears again at leaf ${index} (a duplicate)`,
      });
    } else {
      s.ahead ??= new Set();
      s.ahead.add(seq);
    }
  }

  /** Reports every gap left: seqs missing before the ones seen ahead. */
  finish(): void {
    for (const s of this.streams.values()) {
      if (!s.ahead) continue;
      const ahead = [...s.ahead].sort((a, b) => a - b);
      let expect = s.next;
      for (const seq of ahead) {
        if (seq > expect) {
          const missing =
            seq - 1 === expect ? `seq ${expect} is` : `seqs ${expect}..${seq - 1} are`;
          this.findings.add({
            kind: "stream",
            stream: s.name,
            message: `stream ${s.name}: ${missing} missing (seq ${seq} is present)`,
          });
        }
        expect = seq + 1;
      }
    }
  }
}
