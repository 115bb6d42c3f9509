// The session page of the web UI: the session's export bundle verified here, in the browser, by
// src/core/session-bundle-verify.ts (the badge and its checks), the command timeline, and a player
// per pane with the events that failed verification marked where they play.

import { base64Decode, utf8Decode } from "../core/encoding.ts";
import { type AnySessionBundle, parseSessionBundle } from "../core/session-bundle.ts";
import { type BundleReport, verifySessionBundle } from "../core/session-bundle-verify.ts";
import { api } from "./api.ts";
import { clock, h } from "./dom.ts";
import { CastPlayer } from "./player.ts";
import { describePolicy, pinnedPolicy, quorumWarning, type TrustPolicy } from "./trust.ts";

/** A leaf's metadata, read leniently (for display only; verification is what vouches for it). */
function meta(
  leaf: string,
): Record<string, unknown> & { type?: string; pane?: string; time?: string; seq?: number } {
  try {
    return JSON.parse(leaf);
  } catch {
    return {};
  }
}

export async function sessionPage(
  app: HTMLElement,
  players: Map<string, CastPlayer>,
  id: string,
): Promise<void> {
  const badge = h("span.badge", { "data-verify": "pending", role: "status" }, "Verifying…");
  const checks = h("ul.checks");
  const head = h(
    "section.card",
    {},
    h(
      "div.session-head",
      {},
      h(
        "div",
        {},
        h("a", { href: "/ui", "data-link": true }, "← Sessions"),
        h("h1", { "data-title": true }, "Session"),
      ),
      badge,
    ),
    checks,
  );
  // Only the pinned policy: never the bundle's keys, never what the log announces. Without one,
  // nothing is fetched (opening a session is a recorded read).
  const policy = pinnedPolicy();
  if (!policy) {
    badge.dataset.verify = "fail";
    badge.textContent = "✗ not verified: no trust policy is pinned in this browser";
    checks.replaceChildren(
      h("li.fail", {}, h("a", { href: "/ui/trust", "data-link": true }, "Pin a log key first")),
    );
    app.replaceChildren(head);
    return;
  }
  app.replaceChildren(head, h("p.muted", {}, "Loading the session bundle…"));
  const bundle = parseSessionBundle(await api<unknown>(`/v1/sessions/${id}/export`));
  document.getElementById("origin")!.textContent = bundle.origin;
  head.querySelector("[data-title]")!.textContent =
    `${bundle.session.user}@${bundle.session.host} · tmux session ${bundle.session.session}`;
  // Let the page paint "pending" before the (synchronous) verification runs.
  await new Promise((r) => setTimeout(r, 0));
  const report = verifySessionBundle(bundle, {
    logKeys: [policy.logKey],
    witnessKeys: policy.witnessKeys,
    quorum: policy.quorum,
    // A log that answers another session under this id fails, naming both.
    sessionId: id,
  });
  showReport(badge, checks, report, bundle, policy);
  const { timeline, panes } = sessionBody(bundle, report, players);
  app.replaceChildren(head, h("div.layout", {}, timeline, panes));
}

function showReport(
  badge: HTMLElement,
  checks: HTMLElement,
  r: BundleReport,
  b: AnySessionBundle,
  policy: TrustPolicy,
): void {
  badge.dataset.verify = r.ok ? "ok" : "fail";
  badge.dataset.policy = describePolicy(policy);
  badge.textContent = r.ok
    ? `✓ verified · ${describePolicy(policy)}`
    : `✗ verification failed: ${r.failures[0]!.message}${r.failures.length > 1 ? ` (+${r.failures.length - 1} more)` : ""} · ${describePolicy(policy)}`;
  const li = (ok: boolean, text: string) =>
    h(ok ? "li" : "li.fail", {}, `${ok ? "✓" : "✗"} ${text}`);
  const cpFailed = r.failures.some((f) => f.message.startsWith("checkpoint:"));
  const warning = quorumWarning(policy);
  const items = [
    li(!cpFailed, `log signature by ${r.trusted.log.join(", ")} (the key you pinned)`),
    li(
      !cpFailed,
      r.trusted.quorum > 0
        ? `witness quorum ${r.trusted.quorum} of ${r.trusted.witnesses.length} you pinned: cosigned by ${r.checkpoint?.cosigners.join(", ") || "none"}`
        : "no witness cosignature required by your policy",
    ),
    ...(warning ? [h("li.warning", { "data-quorum-warning": true }, `⚠ ${warning}`)] : []),
    li(
      r.verified === r.events,
      `${r.verified} of ${r.events} events included in checkpoint ${r.checkpoint ? `of size ${r.checkpoint.size}` : "(unverified)"}, their content matching its commitments`,
    ),
    ...r.streams.map((s) =>
      li(
        s.status !== "gap",
        `pane ${s.pane}: ${s.status === "complete" ? `complete, seq 0..${s.lastSeq}` : s.status === "open" ? `seq 0..${s.lastSeq}, still open` : "has a gap"}`,
      ),
    ),
    ...(r.erased.length
      ? [
          li(
            true,
            `${r.erased.length} events' content erased by event${new Set(r.erased.map((e) => e.by)).size > 1 ? "s" : ""} #${[...new Set(r.erased.map((e) => e.by))].join(", #")}`,
          ),
        ]
      : []),
    b.casts
      ? li(
          r.casts.length === Object.keys(b.casts).length &&
            !r.failures.some((f) => f.message.startsWith("cast")),
          `recordings identical to the verified events: ${r.casts.join(", ") || "none"}`,
        )
      : li(
          true,
          `recordings played from the verified events: ${Object.keys(r.recordings).join(", ") || "none"}`,
        ),
    ...(r.pending
      ? [
          h(
            "li",
            {},
            `${r.pending} newer events are not yet covered by a checkpoint and are not shown`,
          ),
        ]
      : []),
    ...r.failures.map((f) => h("li.fail", { "data-failure": f.index ?? "" }, `✗ ${f.message}`)),
  ];
  checks.replaceChildren(...items);
}

function sessionBody(b: AnySessionBundle, r: BundleReport, players: Map<string, CastPlayer>) {
  // Start of each pane's recording: its first event in stream order (as buildCasts does).
  const firstTime = new Map<string, number>();
  const firstSeq = new Map<string, number>();
  const parsed = b.events.map((e) => ({ e, m: meta(e.leaf) }));
  for (const { m } of parsed) {
    if (typeof m.pane !== "string" || typeof m.time !== "string" || typeof m.seq !== "number")
      continue;
    if (!firstSeq.has(m.pane) || m.seq < firstSeq.get(m.pane)!) {
      firstSeq.set(m.pane, m.seq);
      firstTime.set(m.pane, Date.parse(m.time));
    }
  }
  const erasedBy = new Map(r.erased.map((e) => [e.index, e.by]));
  const panes = h("section.card", {});
  const tabs = h("div.tabs", { role: "tablist" });
  const stage = h("div");
  const show = (pane: string) => {
    for (const [p, player] of players) {
      player.element.hidden = p !== pane;
      if (p !== pane) player.pause();
    }
    for (const t of tabs.children)
      t.setAttribute("aria-selected", String((t as HTMLElement).dataset.tab === pane));
  };
  for (const [pane, cast] of Object.entries(r.recordings)) {
    const player = new CastPlayer(cast, pane);
    players.set(pane, player);
    const t0 = firstTime.get(pane) ?? 0;
    player.setMarkers(
      parsed
        .filter(
          ({ e, m }) =>
            m.pane === pane &&
            typeof r.eventStatus[e.index] === "string" &&
            typeof m.time === "string",
        )
        .map(({ m }) => (Date.parse(m.time!) - t0) / 1000),
    );
    tabs.append(
      h(
        "button",
        { type: "button", role: "tab", "data-tab": pane, onclick: () => show(pane) },
        `pane ${pane}`,
      ),
    );
    stage.append(player.element);
  }
  if (players.size === 0) stage.append(h("p.muted", {}, "This session has no pane output."));
  const tampered = parsed.filter(({ e }) => typeof r.eventStatus[e.index] === "string");
  panes.append(
    h("h2", {}, "Replay"),
    tabs,
    ...tampered.map(({ e, m }) =>
      h(
        "p.tamper-note",
        { "data-tampered": e.index },
        `Event #${e.index} (${m.type ?? "?"} in pane ${m.pane ?? "?"}) failed verification: ${r.eventStatus[e.index]}`,
      ),
    ),
    stage,
  );
  const first = players.keys().next();
  if (!first.done) show(first.value);

  const list = h("ol.timeline", { "data-list": "commands" });
  for (const { e, m } of parsed) {
    if (m.type !== "command") continue;
    let cmd: { line?: string; cwd?: string; exit?: number | null; start?: string; end?: string } =
      {};
    if (e.payload) {
      try {
        cmd = JSON.parse(utf8Decode(base64Decode(e.payload.content)));
      } catch {
        cmd = {};
      }
    }
    const status = r.eventStatus[e.index];
    const erased = erasedBy.get(e.index);
    const start = cmd.start ?? m.time ?? "";
    const duration =
      cmd.start && cmd.end ? (Date.parse(cmd.end) - Date.parse(cmd.start)) / 1000 : null;
    const pane = String(m.pane ?? "");
    const t0 = firstTime.get(pane) ?? Date.parse(start);
    const item = h(
      typeof status === "string" ? "li.tampered" : "li",
      {
        "data-index": e.index,
        "data-pane": pane,
        title: typeof status === "string" ? `failed verification: ${status}` : "",
      },
      h(
        "div.line",
        {},
        erased !== undefined ? `[content erased by event #${erased}]` : (cmd.line ?? ""),
      ),
      h(
        "div.meta",
        {},
        `${clock((Date.parse(start) - t0) / 1000)} · pane ${pane} · ${cmd.cwd ?? ""} · `,
        cmd.exit === undefined
          ? ""
          : h(cmd.exit === 0 ? "span.exit-ok" : "span.exit-fail", {}, `exit ${cmd.exit ?? "?"}`),
        duration !== null ? ` · ${duration.toFixed(2)} s` : "",
        typeof status === "string" ? ` · ✗ ${status}` : "",
      ),
    );
    item.addEventListener("click", () => {
      const player = players.get(pane);
      if (!player) return;
      show(pane);
      player.jumpTo((Date.parse(start) - t0) / 1000);
    });
    list.append(item);
  }
  if (list.children.length === 0)
    list.append(
      h(
        "li.muted",
        {},
        "No commands recorded (install the shell hook: tmuxtrail agent shell-hook bash).",
      ),
    );
  const timeline = h("section.card", {}, h("h2", {}, "Commands"), list);
  return { timeline, panes };
}
