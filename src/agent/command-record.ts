// One line of <spool>/commands.log, as the shell hooks write it (src/agent/shell-hook.ts), read
// back. Two forms, fields separated by 0x1F:
//   v2  "v2", pane, line, cwd, exit, start ms, end ms: line and cwd with %, CR, LF and 0x1F
//       written as %25, %0D, %0A, %1F (the hooks of this version; no process is forked to encode)
//   v1  pane, base64 line, base64 cwd, exit, start ms, end ms (hooks loaded by shells started
//       before an upgrade keep writing this form until they restart)
// The exit status is null when unknown (empty: a command that replaced the shell). Anything else
// is not a record: a shell or user that can write the file is not trusted to write well.

export interface CommandRecord {
  pane: string;
  line: string;
  cwd: string;
  exit: number | null;
  /** Epoch milliseconds; NaN when the field is not a number. */
  start: number;
  end: number;
}

const SEP = "\u001f";

function percentDecode(s: string): string {
  // latin1 in and out keeps every byte; the whole field is then read as UTF-8.
  const bytes = Buffer.from(
    s.replace(/%(25|0D|0A|1F)/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    "latin1",
  );
  return bytes.toString("utf8");
}

const num = (s: string | undefined) =>
  s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
const exitOf = (s: string | undefined) =>
  s !== undefined && /^-?\d{1,10}$/.test(s) ? Number(s) : null;

/** Parses one line (without its newline) given as latin1 text; undefined when it is not a record. */
export function parseCommandRecord(raw: string): CommandRecord | undefined {
  const f = raw.split(SEP);
  if (f[0] === "v2") {
    const [, pane, line, cwd, exit, start, end] = f;
    if (f.length !== 7 || !/^%\d+$/.test(pane!)) return undefined;
    return {
      pane: pane!,
      line: percentDecode(line!),
      cwd: percentDecode(cwd!),
      exit: exitOf(exit),
      start: num(start),
      end: num(end),
    };
  }
  const [pane, line64, cwd64, exit, start, end] = f;
  if (f.length !== 6 || !/^%\d+$/.test(pane!)) return undefined;
  return {
    pane: pane!,
    line: Buffer.from(line64!, "base64").toString("utf8"),
    cwd: Buffer.from(cwd64!, "base64").toString("utf8"),
    exit: exitOf(exit),
    start: num(start),
    end: num(end),
  };
}
