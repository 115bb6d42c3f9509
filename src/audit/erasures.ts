// Which missing payloads are honoured erasures (docs/design.md §4.5). An erasure event is appended
// BEFORE the payloads it names are deleted, so a payload may be missing only if an erasure event at
// a LATER index names it: an event cannot excuse deletions of leaves sequenced after it. A payload
// still present although named is fine (the deletion had not happened, or failed): it is checked
// like any other.
//
// Each named range [first, last] of an event at index e is clipped to [first, min(last, e - 1)];
// the clipped ranges are merged and sorted, so a lookup is a binary search. Memory is one pair per
// distinct range, not one entry per erased index.

import { isLogOwnEvent } from "../core/own-events.ts";
import type { LeafEvent } from "./leaf-event.ts";

/**
 * The log's own erasure events: host = the log's origin, server "log", pane "erasure". With no
 * known origin (no readable checkpoint), none is.
 */
export function isLogErasure(ev: LeafEvent, origin: string | undefined): boolean {
  return ev.type === "erasure" && ev.erasure !== undefined && isLogOwnEvent(ev, origin);
}

export class ErasureSet {
  private starts: number[] = [];
  private ends: number[] = [];
  private raw: [number, number][] = [];
  /** Leaf indexes of the erasure events added. */
  readonly events = new Set<number>();

  /** Adds the erasure event at leaf `index`. */
  add(index: number, ranges: readonly [number, number][]): void {
    this.events.add(index);
    for (const [first, last] of ranges) {
      const end = Math.min(last, index - 1);
      if (first <= end) this.raw.push([first, end]);
    }
  }

  /** Sorts and merges the ranges; call once after the last `add`. */
  seal(): void {
    this.raw.sort((a, b) => a[0] - b[0]);
    for (const [first, last] of this.raw) {
      const n = this.ends.length;
      if (n > 0 && first <= this.ends[n - 1]! + 1) {
        this.ends[n - 1] = Math.max(this.ends[n - 1]!, last);
      } else {
        this.starts.push(first);
        this.ends.push(last);
      }
    }
    this.raw = [];
  }

  /** Whether an erasure event at a later index names leaf `index`. */
  covers(index: number): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! > index) hi = mid - 1;
      else if (this.ends[mid]! < index) lo = mid + 1;
      else return true;
    }
    return false;
  }
}
