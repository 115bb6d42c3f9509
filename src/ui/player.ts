// A terminal player for asciicast v2 recordings on xterm.js: play/pause, speed, skip idle, a seek
// bar with markers (events that failed verification), and jumps to a moment of the recording.
//
// A long session arrives by time window (session-page.ts): the player's timeline is the session's,
// split into segments, one per window, each filled with the pane's part of the recording once that
// window is verified. A segment not yet verified is a placeholder: playing into it waits for it,
// and seeking into it asks for it (`onNeed`), so the page loads that window next.
//
// Playback keeps a position in "play time": the recording's time with idle gaps longer than the
// idle limit shortened to it when skipping idle. Seeking resets the terminal and writes every
// event up to the new position at once; playing writes events as the position passes them.
//
// Longer than most files: one player (its timeline, segments, controls and the terminal it drives)
// whose parts all move with the play position.

import { Terminal } from "@xterm/xterm";
import { clock, h } from "./dom.ts";
import { clampSize } from "./terminal-size.ts";

interface CastEvent {
  /** Seconds since the recording started. */
  t: number;
  /** "o" output, "r" resize, "wait" the start of a segment not loaded yet (plays nothing). */
  code: string;
  data: string;
  /** Seconds in play time. */
  at: number;
  /** The segment it belongs to. */
  seg: number;
}

export interface CastHeader {
  width: number;
  height: number;
  timestamp?: number;
}

export function parseCast(text: string): {
  header: CastHeader;
  events: [number, string, string][];
} {
  const lines = text.split("\n").filter((l) => l.length > 0);
  const header = JSON.parse(lines[0] ?? "{}") as CastHeader;
  const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  return { header, events };
}

/** A stretch of the timeline (seconds since the recording started): [start, end). */
export interface Segment {
  start: number;
  end: number;
}

export class CastPlayer {
  readonly element: HTMLElement;
  private readonly term: Terminal;
  private readonly header: CastHeader;
  private events: CastEvent[] = [];
  private readonly segments: Segment[];
  /** Per segment, its events once loaded (times in seconds since the recording started). */
  private readonly loaded: ([number, string, string][] | undefined)[];
  private idleLimit: number | null = 1;
  /** Asks the page for a segment not loaded yet (played into or sought to). */
  onNeed: ((segment: number) => void) | undefined;
  private pos = 0;
  private next = 0;
  private speed = 1;
  private playing = false;
  private last = 0;
  private timer: number | undefined;
  private readonly seekBar: HTMLInputElement;
  private readonly timeLabel: HTMLElement;
  private readonly playButton: HTMLButtonElement;
  private readonly markerBox: HTMLElement;
  private markers: number[] = [];

  /**
   * `segments` split the timeline (one, [0, Infinity), for a whole recording); `header` is the
   * recording's terminal size. Fill segments with `setSegment`.
   */
  constructor(
    header: CastHeader,
    label: string,
    segments: Segment[] = [{ start: 0, end: Infinity }],
  ) {
    this.header = header;
    this.segments = segments;
    this.loaded = segments.map(() => undefined);
    this.rebuild();
    const size = clampSize(this.header.width, this.header.height);
    this.term = new Terminal({
      cols: size.cols,
      rows: size.rows,
      disableStdin: true,
      convertEol: false,
      scrollback: 5000,
      fontFamily: "ui-monospace, Menlo, Consolas, monospace",
      fontSize: 13,
    });
    this.playButton = h(
      "button.primary",
      { type: "button", "data-action": "play" },
      "Play",
    ) as HTMLButtonElement;
    this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    const speed = h(
      "select",
      { "aria-label": "speed", "data-action": "speed" },
      ...[0.5, 1, 2, 4, 8].map((s) => h("option", { value: s, selected: s === 1 }, `${s}×`)),
    ) as HTMLSelectElement;
    speed.addEventListener("change", () => {
      this.speed = Number(speed.value);
    });
    const idle = h("input", {
      type: "checkbox",
      checked: true,
      "data-action": "skip-idle",
    }) as HTMLInputElement;
    idle.addEventListener("change", () => {
      this.idleLimit = idle.checked ? 1 : null;
      this.setIdleLimit();
    });
    this.seekBar = h("input", {
      type: "range",
      min: 0,
      step: "0.01",
      value: 0,
      "aria-label": "seek",
      "data-action": "seek",
    }) as HTMLInputElement;
    this.seekBar.addEventListener("input", () => this.seek(Number(this.seekBar.value)));
    this.timeLabel = h("span.time");
    this.markerBox = h("div.markers");
    const screen = h("div.screen");
    this.element = h(
      "div.player",
      { "data-pane": label, "data-state": "paused" },
      screen,
      h(
        "div.controls",
        {},
        this.playButton,
        h("label", {}, "Speed ", speed),
        h("label", {}, idle, " skip idle"),
        h("div.seek", {}, this.seekBar, this.markerBox),
        this.timeLabel,
      ),
    );
    this.element.dataset.size = `${size.cols}x${size.rows}`;
    if (Number(this.header.width) > size.cols || Number(this.header.height) > size.rows) {
      this.element.prepend(
        h(
          "p.muted",
          { "data-clamped": true },
          `The recording claims a ${String(this.header.width).slice(0, 12)} × ${String(this.header.height).slice(0, 12)} terminal; drawn at ${size.cols} × ${size.rows}.`,
        ),
      );
    }
    this.term.open(screen);
    this.setIdleLimit();
  }

  /** Whether a segment's events are in. */
  has(segment: number): boolean {
    return this.loaded[segment] !== undefined;
  }

  /**
   * Fills a segment with its events ([seconds since the recording started, code, data], in order).
   * What is already on the screen stays unless the segment lies before the position (then the
   * screen is redrawn at the same moment).
   */
  setSegment(segment: number, events: [number, string, string][]): void {
    const passed = this.events.findIndex((e) => e.seg === segment);
    const redraw = passed >= 0 && passed < this.next;
    const real = this.realPosition();
    this.loaded[segment] = events;
    this.rebuild();
    this.computeAt();
    if (redraw) this.seek(this.toPlay(real));
    else {
      // Events before the position are unchanged, and so are their play times.
      this.seekBar.max = String(this.duration);
      this.drawMarkers();
      this.showPosition();
    }
    if (this.waiting === segment) {
      this.waiting = undefined;
      if (this.playing) {
        this.last = performance.now();
        this.element.dataset.state = "playing";
        this.tick();
      }
    }
  }

  /** The segment a moment (seconds since the recording started) lies in. */
  private segmentAt(real: number): number {
    const i = this.segments.findIndex((s) => real < s.end);
    return i < 0 ? this.segments.length - 1 : i;
  }

  private rebuild(): void {
    const events: CastEvent[] = [];
    this.segments.forEach((s, seg) => {
      const list = this.loaded[seg];
      if (!list) {
        events.push({ t: s.start, code: "wait", data: "", at: 0, seg });
        return;
      }
      for (const [t, code, data] of list) events.push({ t, code, data, at: 0, seg });
    });
    this.events = events;
  }

  private realPosition(): number {
    return this.pos === 0 ? 0 : this.toReal(this.pos);
  }

  /** Play time at the end of the recording. */
  get duration(): number {
    return this.events.length ? this.events[this.events.length - 1]!.at : 0;
  }

  private computeAt(): void {
    const limit = this.idleLimit;
    let acc = 0;
    let prev = 0;
    for (const e of this.events) {
      const gap = Math.max(0, e.t - prev);
      acc += limit === null ? gap : Math.min(gap, limit);
      prev = e.t;
      e.at = acc;
    }
  }

  private setIdleLimit(): void {
    const realPos = this.realPosition();
    this.computeAt();
    this.seekBar.max = String(this.duration);
    this.drawMarkers();
    this.seek(this.toPlay(realPos));
  }

  private toPlay(real: number): number {
    const i = this.events.findIndex((e) => e.t >= real);
    if (i < 0) return this.duration;
    const e = this.events[i]!;
    const prev = i > 0 ? this.events[i - 1]! : { t: 0, at: 0 };
    const span = e.t - prev.t;
    return span <= 0 ? e.at : prev.at + ((real - prev.t) / span) * (e.at - prev.at);
  }

  private toReal(play: number): number {
    const i = this.events.findIndex((e) => e.at >= play);
    return i < 0 ? (this.events.at(-1)?.t ?? 0) : this.events[i]!.t;
  }

  /** Marks moments (seconds since the recording started) on the seek bar. */
  setMarkers(realTimes: number[]): void {
    this.markers = realTimes;
    this.drawMarkers();
  }

  private drawMarkers(): void {
    this.markerBox.replaceChildren(
      ...this.markers.map((t) =>
        h("span", {
          style: `left: ${this.duration ? (100 * this.toPlay(t)) / this.duration : 0}%`,
          title: "an event here failed verification",
        }),
      ),
    );
  }

  play(): void {
    if (this.playing) return;
    if (this.next >= this.events.length) this.seek(0);
    this.waiting = undefined;
    this.playing = true;
    this.last = performance.now();
    this.playButton.textContent = "Pause";
    this.element.dataset.state = "playing";
    this.tick();
  }

  pause(): void {
    this.playing = false;
    this.waiting = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.playButton.textContent = "Play";
    if (this.element.dataset.state !== "ended") this.element.dataset.state = "paused";
  }

  /** Jumps to a moment given in seconds since the recording started, and plays from there. */
  jumpTo(realSeconds: number): void {
    this.seek(Math.max(0, this.toPlay(realSeconds) - 0.001));
    this.play();
  }

  seek(play: number): void {
    this.pos = Math.min(Math.max(0, play), this.duration);
    this.term.reset();
    let out = "";
    this.next = 0;
    while (this.next < this.events.length && this.events[this.next]!.at <= this.pos) {
      out += this.apply(this.events[this.next]!, true);
      this.next++;
    }
    if (out) this.term.write(out);
    // A moment in a segment not loaded yet: ask for it (the screen is redrawn when it arrives).
    const seg = this.segmentAt(this.toReal(this.pos));
    if (this.pos > 0 && !this.has(seg)) this.onNeed?.(seg);
    this.element.dataset.state =
      this.next >= this.events.length && this.events.length
        ? "ended"
        : this.playing
          ? "playing"
          : "paused";
    this.showPosition();
  }

  /** Writes (or, when batching, returns) an event's output; applies resizes at once. */
  private apply(e: CastEvent, batch: boolean): string {
    if (e.code === "o") {
      if (batch) return e.data;
      this.term.write(e.data);
    } else if (e.code === "r") {
      const m = /^(\d{1,9})x(\d{1,9})$/.exec(e.data);
      if (m) {
        const size = clampSize(Number(m[1]), Number(m[2]));
        this.term.resize(size.cols, size.rows);
        this.element.dataset.size = `${size.cols}x${size.rows}`;
      }
    }
    return "";
  }

  /** The segment playback waits for. */
  private waiting: number | undefined;

  private tick = (): void => {
    if (!this.playing) return;
    const now = performance.now();
    this.pos += ((now - this.last) / 1000) * this.speed;
    this.last = now;
    while (this.next < this.events.length && this.events[this.next]!.at <= this.pos) {
      const e = this.events[this.next]!;
      if (e.code === "wait") {
        // A segment not loaded yet: hold here until it is.
        this.pos = e.at;
        this.waiting = e.seg;
        this.element.dataset.state = "loading";
        this.showPosition();
        this.onNeed?.(e.seg);
        return;
      }
      this.apply(e, false);
      this.next++;
    }
    this.showPosition();
    if (this.next >= this.events.length) {
      this.pos = this.duration;
      this.pause();
      this.element.dataset.state = "ended";
      this.showPosition();
      return;
    }
    this.timer = window.setTimeout(this.tick, 30);
  };

  private showPosition(): void {
    this.seekBar.value = String(this.pos);
    this.timeLabel.textContent = `${clock(this.pos)} / ${clock(this.duration)}`;
  }

  /** The terminal's visible text (for tests and copy). */
  text(): string {
    const b = this.term.buffer.active;
    const rows: string[] = [];
    for (let i = 0; i < b.length; i++) rows.push(b.getLine(i)?.translateToString(true) ?? "");
    return rows.join("\n").trimEnd();
  }

  dispose(): void {
    this.pause();
    this.term.dispose();
  }
}
