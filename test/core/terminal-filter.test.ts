// TerminalFilter (src/core/terminal-filter.ts): what a replayed recording may send to a terminal.
// Each case is named by what it would do to the auditor's terminal if it went through.

import { describe, expect, it } from "vitest";
import { TerminalFilter, terminalSafe } from "../../src/core/terminal-filter.ts";

const E = "\u001b";
const dropped: [string, string][] = [
  ["sets the clipboard (OSC 52, BEL)", `${E}]52;c;cm0gLXJmIH4=\u0007`],
  ["sets the clipboard (OSC 52, ST)", `${E}]52;c;cm0gLXJmIH4=${E}\\`],
  ["sets the title (OSC 0, 1, 2)", `${E}]0;a\u0007${E}]1;b\u0007${E}]2;c\u0007`],
  ["asks for the cursor position (DSR)", `${E}[6n${E}[?6n${E}[5n`],
  ["asks who the terminal is (DA, DA2, DA3, DECID)", `${E}[c${E}[0c${E}[>c${E}[=c${E}Z`],
  ["asks for a mode (DECRQM)", `${E}[?2026$p${E}[4$p`],
  ["asks for a setting (DECRQSS, XTGETTCAP in DCS)", `${E}P$qm${E}\\${E}P+q544e${E}\\`],
  ["reports or moves the window (XTWINOPS)", `${E}[18t${E}[3;0;0t${E}[21t`],
  ["turns on mouse and focus reporting", `${E}[?1000h${E}[?1006;1004h${E}[?9h`],
  ["changes keyboard reporting (modifyOtherKeys, kitty)", `${E}[>4;2m${E}[>1u${E}[?u`],
  ["prints (media copy)", `${E}[5i${E}[i`],
  ["switches to 8-bit controls or leaves UTF-8", `${E} G${E}%@`],
  ["speaks C1 (8-bit CSI, OSC, DCS)", "\u009b6n\u009d0;t\u009c\u0090q\u009c"],
  ["hides in APC, PM, SOS", `${E}_x${E}\\${E}^y${E}\\${E}Xz${E}\\`],
  ["sends NUL, SO, SI, CAN, DEL", "\u0000\u000e\u000f\u0018\u007f"],
];

const kept = [
  `${E}[1;31mred${E}[0m`,
  `${E}[2J${E}[H${E}[10;5H${E}[K${E}[?25l${E}[?25h`,
  `${E}[?1049h${E}[3;20r${E}[2Sx${E}[?1049l`,
  `${E}7${E}8${E}M${E}(0q${E}(B`,
  "tab\there\r\nbell\u0007back\b",
  "é — 漢字 🙂",
];

describe("TerminalFilter", () => {
  for (const [what, seq] of dropped) {
    it(`drops a sequence that ${what}`, () => {
      expect(terminalSafe(`a${seq}b`)).toBe("ab");
    });
  }

  it("keeps what only draws on the screen", () => {
    for (const s of kept) expect(terminalSafe(s)).toBe(s);
  });

  it("gives the same output however the stream is split into events", () => {
    const all = [...dropped.map(([, s]) => s), ...kept].join("x");
    const whole = terminalSafe(all);
    for (const size of [1, 2, 3, 7]) {
      const f = new TerminalFilter();
      let out = "";
      for (let i = 0; i < all.length; i += size) out += f.push(all.slice(i, i + size));
      expect(out + f.end()).toBe(whole);
    }
  });

  it("drops an unfinished sequence at the end, and a CSI longer than 64 bytes", () => {
    expect(terminalSafe(`ok${E}]52;c;cm0g`)).toBe("ok");
    expect(terminalSafe(`a${E}[${"1;".repeat(40)}mb`)).toBe("ab");
  });
});
