// Secrets typed on a command line, end to end: real tmux, bash with the shell hook, the agent and
// a log. What the log stores (command content and pane output) must not hold them.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import {
  agentBed,
  agentOnTmux,
  eventsOf,
  paneOutput,
  printed,
  tmux,
  until,
} from "../support/agent.ts";

const started = agentBed();

const SECRETS = [
  "hunter2pw",
  "abcdef0123456789",
  "wJalrXUtnFEMI",
  "tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
  "cwdsecret9",
];

it("secrets typed on a command line never reach the log: line and cwd are redacted like output, with their redactions", {
  timeout: 150_000,
}, async () => {
  const { dir, host, socket, log } = await agentOnTmux(started, { name: "cmd", paneReady: true });
  const secretDir = join(dir, "password=cwdsecret9");
  mkdirSync(secretDir);
  const typed = [
    ": mysql --password=hunter2pw -e 'select 1'",
    ": curl -H 'Authorization: Bearer abcdef0123456789.xyz' https://api",
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE2 true",
    ": tmuxtrail tail --token tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    `cd ${secretDir}`,
    "echo in-the-secret-dir",
    // Printed after a pause: "Bearer " goes out alone (the pane is idle), the token in the next
    // chunk (built by the shell, so the echo of this line does not hold it). Typed last, so no
    // keys typed ahead are echoed in between.
    "env printf 'Authorization: Bearer '; sleep 3; echo tok$((6*7))en0123456789",
  ];
  for (const line of typed) tmux(socket, "send-keys", "-t", "work", line, "Enter");
  const events = await until(
    async () => {
      const ev = await eventsOf(log.url, host);
      const commands = ev.filter((e) => e.event.type === "command");
      const out = paneOutput(ev, "%0");
      return commands.length >= typed.length &&
        printed(out, "in-the-secret-dir") === 1 &&
        /Authorization: Bearer (\[REDACTED:bearer-token\]|tok42)/.test(out)
        ? ev
        : undefined;
    },
    60_000,
    "the commands in the log",
  );
  // Nothing the log holds carries a secret: not the command events, not the echoed keystrokes.
  for (const e of events) {
    const text = e.content?.toString("latin1") ?? "";
    for (const secret of SECRETS) expect(text, `${e.event.type} ${e.index}`).not.toContain(secret);
  }
  const out = paneOutput(events, "%0");
  expect(out).not.toContain("tok42en0123456789");
  expect(out).toContain("Authorization: Bearer [REDACTED:bearer-token]");
  const commands = events
    .filter((e) => e.event.type === "command")
    .map((e) => ({
      content: e.content!,
      json: JSON.parse(e.content!.toString("utf8")) as { line: string; cwd: string },
      redactions: (e.event as { redactions?: { kind: string; at: number; len: number }[] })
        .redactions,
    }));
  const byLine = (prefix: string) => commands.find((c) => c.json.line.startsWith(prefix))!;
  const expected: [prefix: string, kinds: string[]][] = [
    [": mysql --password=[REDACTED:password]", ["password"]],
    [": curl -H 'Authorization: Bearer [REDACTED:bearer-token]'", ["bearer-token"]],
    ["export AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-access-key]", ["aws-secret-access-key"]],
    ["AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-access-key] true", ["aws-secret-access-key"]],
    [": tmuxtrail tail --token [REDACTED:tmuxtrail-token]", ["tmuxtrail-token"]],
    [`cd ${dir}/password=[REDACTED:password]`, ["password"]],
    // Typed in the directory: its cwd is redacted, the line is not.
    ["echo in-the-secret-dir", ["password"]],
  ];
  for (const [prefix, kinds] of expected) {
    const c = byLine(prefix);
    expect(c, prefix).toBeDefined();
    expect(c.redactions?.map((r) => r.kind)).toEqual(kinds);
    // `at` is the marker's byte offset in the content stored; `len` the bytes it replaced.
    for (const r of c.redactions!) {
      expect(c.content.subarray(r.at).toString("utf8")).toMatch(
        new RegExp(`^\\[REDACTED:${r.kind}\\]`),
      );
      expect(r.len).toBeGreaterThanOrEqual(9);
    }
  }
  expect(byLine("echo in-the-secret-dir").json.cwd).toBe(`${dir}/password=[REDACTED:password]`);
  expect(byLine(": tmuxtrail").redactions![0]!.len).toBe(
    "tt_AbCdEfGhIjKlMnOpQrStUvWxYz012345".length,
  );
});
