// The agent in a locale that is not UTF-8, as under systemd (no LANG) or `su - user` on a minimal
// host. tmux then prints each control character of -F output as `_` (the agent's field separator
// included) and each non-ASCII character of capture-pane as `_`: the agent read one pane id as
// "undefined", died at start, and would have recorded a screen of `_` for "héllo ✓".
import { expect, it } from "vitest";
import { agentBed, agentOnTmux, eventsOf, tmux, until } from "../support/agent.ts";

const started = agentBed();

it("captures panes and their screens when started with LANG=C", { timeout: 90_000 }, async () => {
  const { host, socket, log, agent } = await agentOnTmux(started, {
    name: "locale",
    // On the screen before the agent starts: the agent's first event of the pane is this screen.
    before: ({ socket }) => {
      tmux(socket, "send-keys", "-t", "work", "clear; echo 'h\u00e9llo \u2713'", "Enter");
      return until(
        async () => tmux(socket, "capture-pane", "-p", "-t", "work").includes("h\u00e9llo \u2713"),
        10_000,
        "the pane to show the line",
      );
    },
    agentEnv: { LANG: "C", LC_ALL: "C", LC_CTYPE: "C" },
  });
  const pane = tmux(socket, "display-message", "-p", "-t", "work", "#{pane_id}").trim();
  const events = await until(
    async () => {
      const ev = await eventsOf(log.url, host);
      return ev.some((e) => e.event.type === "output" && e.event.pane === pane) && ev;
    },
    30_000,
    "the pane's first output event",
  );
  expect(agent.stderr()).not.toMatch(/can't find pane|undefined/);
  const screen = events
    .filter((e) => e.event.type === "output" && e.event.pane === pane)
    .map((e) => e.content!.toString("utf8"))
    .join("");
  expect(screen).toContain("h\u00e9llo \u2713");
  const server = events[0]!.event.server;
  expect(server).toMatch(new RegExp(`^${socket}@\\d+$`));
});
