// A one-line progress bar on stderr while an audit runs: leaves done of total, rate and ETA.
// Only on a terminal: piped or redirected output stays clean (no carriage returns in logs).

export type ProgressFn = (done: number, total: number) => void;

export function progressBar(out: NodeJS.WriteStream = process.stderr): {
  update: ProgressFn;
  end(): void;
} {
  if (!out.isTTY) return { update: () => {}, end: () => {} };
  const started = performance.now();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 200 && done < total) return;
      last = now;
      const secs = (now - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const frac = total > 0 ? done / total : 1;
      const width = 30;
      const filled = Math.round(frac * width);
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
      out.write(
        `\r\x1b[2K[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} leaves  ${Math.round(rate).toLocaleString("en-US")}/s  ETA ${eta}s`,
      );
      shown = true;
    },
    end() {
      if (shown) out.write("\r\x1b[2K");
    },
  };
}
