// What a replayed recording may send to the auditor's terminal. A pane's output is whatever the
// recorded programs (or whoever wrote to the pane, or the log's operator) printed; played raw, it
// can set the clipboard (OSC 52), retitle the window (OSC 0/1/2), make the terminal answer (DSR,
// DA, DECRQM, XTWINOPS reports: the answer arrives as typed input), switch on mouse or focus
// reporting, move or resize the window, or print (media copy). `TerminalFilter` keeps what draws
// on the screen and drops the rest, statefully, since one sequence may be split across events.
//
// ECMA-48 shapes, parsed exactly enough to drop a whole sequence and never half of one:
//   ESC I* F                  escape: kept for cursor save/restore (7 8), keypad (= >), index and
//                             reverse index (D E M), tab set (H), reset (c) and charset designation
//                             (ESC ( 0 and the like); dropped otherwise (ESC Z is a query)
//   CSI P* I* F               ESC [ or 0x9b; kept when F draws or moves (cursor, erase, scroll,
//                             SGR "m", insert/delete, tabs) with no "<", "=", ">" prefix and no
//                             intermediate; "?" only for erase and for the screen modes below
//   OSC/DCS/SOS/PM/APC … ST   ESC ] P X ^ _ or 0x9d 0x90 0x98 0x9e 0x9f, up to BEL, ESC \ or 0x9c:
//                             always dropped (titles, clipboard, colours, hyperlinks, queries)
// Example: "a\x1b]52;c;cm0gLXJm\x07b\x1b[6nc\x1b[1;31md" → "abc\x1b[1;31md".
// C0 controls other than BEL, BS, HT, LF, VT, FF and CR, DEL and any other C1 are dropped.

const ESC_FINALS = new Set(["7", "8", "=", ">", "D", "E", "H", "M", "c"]);
const ESC_INTERMEDIATES = new Set(["(", ")", "*", "+", "-", ".", "/", "#"]);
const STRING_INTRODUCERS = new Set(["]", "P", "X", "^", "_"]);
// Cursor movement, erase, insert/delete, scroll, SGR, scroll region, tabs, save/restore cursor.
const CSI_FINALS = new Set([..."@ABCDEFGHIJKLMPSTXZ`abdefghlmrsu"]);
// DEC private modes that only change what the screen shows: cursor keys, reverse video, origin,
// wrap, cursor blink and visibility, the alternate screen.
const SCREEN_MODES = new Set([1, 5, 6, 7, 12, 25, 47, 1047, 1048, 1049]);
const MAX_CSI = 64;

type State =
  | "ground"
  | "esc"
  | "esc-inter"
  | "esc-drop"
  | "csi"
  | "csi-drop"
  | "string"
  | "string-esc";

export class TerminalFilter {
  private state: State = "ground";
  private buf = "";

  /** The part of `text` that may reach the terminal; an unfinished sequence waits for more. */
  push(text: string): string {
    let out = "";
    for (const c of text) out += this.step(c);
    return out;
  }

  /** The end of the stream: an unfinished sequence is dropped. */
  end(): string {
    this.state = "ground";
    this.buf = "";
    return "";
  }

  private step(c: string): string {
    const code = c.codePointAt(0)!;
    switch (this.state) {
      case "ground":
        return this.ground(c, code);
      case "esc":
        if (c === "[") return this.to("csi", "\u001b[");
        if (STRING_INTRODUCERS.has(c)) return this.to("string");
        if (ESC_INTERMEDIATES.has(c)) return this.to("esc-inter", `\u001b${c}`);
        if (code >= 0x20 && code <= 0x2f) return this.to("esc-drop"); // ESC SP G, ESC % @: dropped
        if (code >= 0x30 && code <= 0x7e) {
          this.to("ground");
          return ESC_FINALS.has(c) ? `\u001b${c}` : "";
        }
        this.to("ground");
        return this.ground(c, code);
      case "esc-inter":
        if (code >= 0x30 && code <= 0x7e) {
          const seq = this.buf + c;
          this.to("ground");
          return seq;
        }
        this.to("ground");
        return this.ground(c, code);
      case "csi":
        if (code >= 0x20 && code <= 0x3f) {
          this.buf += c;
          if (this.buf.length > MAX_CSI) this.to("csi-drop");
          return "";
        }
        if (code >= 0x40 && code <= 0x7e) {
          const seq = this.buf + c;
          this.to("ground");
          return allowedCsi(seq.slice(2, -1), c) ? seq : "";
        }
        this.to("ground");
        return this.ground(c, code);
      case "esc-drop":
        if (code >= 0x20 && code <= 0x2f) return "";
        this.to("ground");
        return code >= 0x30 && code <= 0x7e ? "" : this.ground(c, code);
      case "csi-drop":
        // The rest of a dropped escape or control sequence, up to its final byte.
        if (code >= 0x20 && code <= 0x3f) return "";
        this.to("ground");
        return code >= 0x40 && code <= 0x7e ? "" : this.ground(c, code);
      case "string":
        if (code === 0x07 || code === 0x9c) return this.to("ground");
        if (code === 0x1b) return this.to("string-esc");
        if (code === 0x18 || code === 0x1a) return this.to("ground");
        return "";
      case "string-esc":
        // ESC \ ends the string; any other ESC ends it too and starts a new sequence.
        this.to("esc");
        return c === "\\" ? this.to("ground") : this.step(c);
    }
  }

  private ground(c: string, code: number): string {
    if (code === 0x1b) return this.to("esc");
    if (code === 0x9b) return this.to("csi", "\u001b[");
    if (code === 0x9d || code === 0x90 || code === 0x98 || code === 0x9e || code === 0x9f) {
      return this.to("string");
    }
    if (code < 0x20) return code >= 0x07 && code <= 0x0d ? c : "";
    if (code >= 0x7f && code <= 0x9f) return "";
    return c;
  }

  private to(state: State, buf = ""): string {
    this.state = state;
    this.buf = buf;
    return "";
  }
}

/** A CSI sequence with parameter/intermediate bytes `body` and final byte `final` draws only. */
function allowedCsi(body: string, final: string): boolean {
  if (!CSI_FINALS.has(final)) return false;
  if (/[ -/]/.test(body)) return false; // intermediates: DECRQM "$p", DECSCUSR " q", DECSTR "!p"
  const prefix = /^[<=>?]/.test(body) ? body[0]! : "";
  if (prefix === "<" || prefix === "=" || prefix === ">") return false;
  if (final === "h" || final === "l") {
    const modes = body.slice(prefix.length).split(";").map(Number);
    // ANSI mode 4 (insert); DEC private modes that only change the screen.
    return modes.every((m) => (prefix === "?" ? SCREEN_MODES.has(m) : m === 4));
  }
  return prefix === "" || final === "J" || final === "K";
}

/** The whole of `text` through a fresh filter (one recording played from start to end). */
export function terminalSafe(text: string): string {
  const f = new TerminalFilter();
  return f.push(text) + f.end();
}
