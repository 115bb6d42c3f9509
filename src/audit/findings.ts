// What an audit found wrong, in the order it was found. A pass streams the log in index order, so
// the first finding is the earliest thing that breaks (a leaf, a tile, a checkpoint, a stream, a
// payload, or the coordination row); later findings are often its consequences, so only the first
// `limit` are kept and the rest are counted, which keeps memory bounded however broken a log is.

export type FindingKind = "leaf" | "tile" | "checkpoint" | "stream" | "payload" | "state";

export interface Finding {
  kind: FindingKind;
  /** The leaf index concerned (leaf, payload, and the stream event that breaks a stream). */
  index?: number;
  /** A hash tile, as "L/N" (tile level, tile index). */
  tile?: string;
  /** A checkpoint's tree size. */
  size?: number;
  /** A stream, as "host/server/pane". */
  stream?: string;
  message: string;
}

export class Findings {
  readonly list: Finding[] = [];
  /** Findings past `limit`, counted but not kept. */
  omitted = 0;

  constructor(private readonly limit = 21) {}

  add(f: Finding): void {
    if (this.list.length < this.limit) this.list.push(f);
    else this.omitted++;
  }

  get count(): number {
    return this.list.length + this.omitted;
  }

  get ok(): boolean {
    return this.count === 0;
  }
}

/** "L/N", the name a finding gives hash tile (level L, index N). */
export const tileName = (level: number, index: number): string => `${level}/${index}`;

/** "host/server/pane", the name a finding gives a stream. */
export const streamName = (s: { host: string; server: string; pane: string }): string =>
  `${s.host}/${s.server}/${s.pane}`;
