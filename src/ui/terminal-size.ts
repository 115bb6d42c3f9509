// Terminal sizes from recordings, made safe to draw.

/**
 * The largest terminal the player draws. A recording's sizes come from the host that recorded it
 * (pane-open and resize events): a host could claim 100000 × 100000 and crash the tab that
 * plays it. Real panes stay far below this (a 4K screen at a small font is about 400 × 120).
 */
export const MAX_COLS = 500;
export const MAX_ROWS = 200;

/** A size from a recording, clamped to 1..MAX (80 × 24 when it is not a positive number). */
export function clampSize(cols: unknown, rows: unknown): { cols: number; rows: number } {
  const bound = (v: unknown, max: number, dflt: number) => {
    const n = typeof v === "number" ? v : Number(v);
    return Number.isFinite(n) && n >= 1 ? Math.min(Math.floor(n), max) : dflt;
  };
  return { cols: bound(cols, MAX_COLS, 80), rows: bound(rows, MAX_ROWS, 24) };
}
