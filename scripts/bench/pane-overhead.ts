// `npm run bench:pane`: how much the agent slows a tmux pane that prints 100 MB. Runs the same
// print in a private tmux server alone, with `pipe-pane -O 'cat >> file'` (the floor: what the
// agent's capture itself costs tmux), and with the full agent sending to a local log; prints the
// median wall time of each and the ratios. `--mb N` and `--runs N` size it.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs } from "./args.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const HELP = `usage: npm run bench:pane -- [--mb N] [--runs N]

How much the agent slows a tmux pane printing N MB: the print alone, with pipe-pane to a file (the
floor), and with the agent sending to a local log; median wall time of each and the ratios.

  --mb N      megabytes the pane prints (default 100)
  --runs N    runs of each, the median is reported (default 3)
  -h, --help  this text
`;
const { mb: MB, runs: RUNS } = benchArgs("bench:pane", HELP, {
  mb: { default: "100" },
  runs: { default: "3" },
});
const ADMIN = `tt_pane_${randomBytes(6).toString("hex")}`;

const tmux = (sock: string, ...a: string[]) =>
  execFileSync("tmux", ["-L", sock, ...a], { encoding: "utf8" });

/** Seconds for the pane to print MB megabytes of text, measured inside the pane. */
function timePrint(sock: string, dir: string): number {
  const out = join(dir, `t-${randomBytes(3).toString("hex")}`);
  tmux(
    sock,
    "send-keys",
    "-t",
    "b",
    `s=$(date +%s%N); head -c ${MB}000000 /dev/zero | tr '\\0' 'x' | fold -w 120; e=$(date +%s%N); echo $(( (e - s) / 1000000 )) > ${out}; tmux -L ${sock} wait -S done`,
    "Enter",
  );
  tmux(sock, "wait", "done");
  return Number(execFileSync("cat", [out], { encoding: "utf8" })) / 1000;
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function waitLine(child: ReturnType<typeof spawn>, re: RegExp): Promise<string> {
  let buf = "";
  return new Promise((resolve) =>
    child.stdout!.on("data", (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) resolve(m[1] ?? m[0]);
    }),
  );
}

const results: Record<string, number> = {};
for (const mode of ["alone", "pipe-pane cat", "agent"]) {
  const dir = mkdtempSync(join(tmpdir(), "tt-pane-"));
  const sock = `ttpane-${randomBytes(3).toString("hex")}`;
  tmux(
    sock,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    "b",
    "-x",
    "120",
    "-y",
    "40",
    "bash --norc -i",
  );
  const children: ReturnType<typeof spawn>[] = [];
  try {
    if (mode === "pipe-pane cat")
      tmux(sock, "pipe-pane", "-O", "-t", "b", `cat >> ${join(dir, "raw.out")}`);
    if (mode === "agent") {
      const log = spawn(
        process.execPath,
        ["bin/tmuxtrail.js", "serve", "--port", "0", "--data", join(dir, "log")],
        {
          cwd: root,
          env: { ...process.env, TMUXTRAIL_ADMIN_TOKEN: ADMIN },
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      children.push(log);
      const url = await waitLine(log, /listening on (http:\/\/\S+)/);
      const res = await fetch(`${url}/v1/keys`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify({ name: "bench", scopes: ["submit"], host: "bench" }),
      });
      writeFileSync(join(dir, "token"), ((await res.json()) as { token: string }).token);
      const agent = spawn(
        process.execPath,
        [
          "bin/tmuxtrail.js",
          "agent",
          "--log",
          url,
          "--token-file",
          join(dir, "token"),
          "--host",
          "bench",
          "-L",
          sock,
          "--spool",
          join(dir, "spool"),
        ],
        { cwd: root, stdio: ["ignore", "pipe", "ignore"] },
      );
      children.push(agent);
      await waitLine(agent, /(capturing into)/);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(timePrint(sock, dir));
    results[mode] = median(times);
  } finally {
    for (const c of children) c.kill("SIGKILL");
    tmux(sock, "kill-server");
  }
}
console.log(`a pane printing ${MB} MB (${RUNS} runs each, median wall seconds inside the pane):`);
for (const [k, v] of Object.entries(results)) {
  console.log(`  ${k.padEnd(14)} ${v.toFixed(2)} s   ${(v / results.alone!).toFixed(2)}x of alone`);
}
