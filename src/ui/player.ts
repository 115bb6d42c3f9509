// A terminal player for asciicast v2 recordings on xterm.js: play/pause, speed, skip idle, a seek
// bar with markers (events that failed verification), and jumps to a moment of the recording.
//
// Playback keeps a position in "play time": the recording's time with idle gaps longer than the
// idle limit shortened to it when skipping idle. Seeking resets the terminal and writes every
// event up to the new position at once; playing writes events as the position passes them.

import { Terminal } from "@xterm/xterm";
import { clock, h } from "./dom.ts";
import { clampSize } from "./terminal-size.ts";

interface CastEvent {
  /** Seconds since the recording started. */
  t: number;
  code: string;
  data: string;
  /** Seconds in play time. */
  at: number;
}

export interface CastHeader {
  width: number;
  height: number;
  timestamp?: number;
}

export function parseCast(text: string): { header: CastHeader; events: CastEvent[] } {
  const lines = text.split("\n").filter((l) => l.length > 0);
  const header = JSON.parse(lines[0] ?? "{}") as CastHeader;
  const events = lines.slice(1).map((l) => {
    const [t, code, data] = JSON.parse(l) as [number, string, string];
    return { t, code, data, at: t };
  });
  return { header, events };
}

export class CastPlayer {
  readonly element: HTMLElement;
  private readonly term: Terminal;
  private readonly header: CastHeader;
  private readonly events: CastEvent[];
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

  constructor(castText: string, label: string) {
    const cast = parseCast(castText);
    this.header = cast.header;
    this.events = cast.events;
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
    idle.addEventListener("change", () => this.setIdleLimit(idle.checked ? 1 : null));
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
    this.setIdleLimit(1);
  }

  /** Play time at the end of the recording. */
  get duration(): number {
    return this.events.length ? this.events[this.events.length - 1]!.at : 0;
  }

  private setIdleLimit(limit: number | null): void {
    const realPos = this.pos === 0 ? 0 : this.toReal(this.pos);
    let acc = 0;
    let prev = 0;
    for (const e of this.events) {
      const gap = Math.max(0, e.t - prev);
      acc += limit === null ? gap : Math.min(gap, limit);
      prev = e.t;
      e.at = acc;
    }
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
    this.playing = true;
    this.last = performance.now();
    this.playButton.textContent = "Pause";
    this.element.dataset.state = "playing";
    this.tick();
  }

  pause(): void {
    this.playing = false;
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

  private tick = (): void => {
    if (!this.playing) return;
    const now = performance.now();
    this.pos += ((now - this.last) / 1000) * this.speed;
    this.last = now;
    while (this.next < this.events.length && this.events[this.next]!.at <= this.pos) {
      this.apply(this.events[this.next]!, false);
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
