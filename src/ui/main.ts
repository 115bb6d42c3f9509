// The tmuxtrail web UI: sign in with a read token, list sessions, and watch one play back beside its
// command timeline, with a verification badge computed here, in the browser, by the same src/core
// code the CLI runs (verifySessionBundle): the log's signature with the key the user pinned, the
// witness quorum, every event's inclusion, every commitment, streams, erasures and the recordings.
// It runs in a Web Worker (verify-worker.ts), one time window of the session at a time (windows.ts,
// session-page.ts), so a long session plays from its first window while the rest verifies.
//
// Routes: /ui (sessions), /ui/sessions/<id> (one session; survives a reload), /ui/trust (the pinned
// trust policy: log key, witness keys, quorum; trust.ts). Opening a session exports it, window by
// window, which the log records as access events.

import { ApiFailure, api, logInfo, SignInNeeded, session } from "./api.ts";
import { formatTime, h } from "./dom.ts";
import type { CastPlayer } from "./player.ts";
import { leaveSessionPage, sessionPage } from "./session-page.ts";
import {
  describePolicy,
  pinnedPolicy,
  pinPolicy,
  quorumWarning,
  type TrustPolicy,
  trustFields,
} from "./trust.ts";

interface SessionRow {
  id: string;
  host: string;
  server: string;
  session: string;
  user: string;
  start: string;
  end: string;
  events: number;
}

const app = document.getElementById("app")!;
const players = new Map<string, CastPlayer>();
(window as unknown as { tmuxtrail: unknown }).tmuxtrail = { players };

function navigate(path: string): void {
  history.pushState(null, "", path);
  void route();
}

document.addEventListener("click", (e) => {
  const a = (e.target as HTMLElement).closest("a[data-link]") as HTMLAnchorElement | null;
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href")!);
});
window.addEventListener("popstate", () => void route());
document.getElementById("signout")!.addEventListener("click", () => {
  session.clear();
  navigate("/ui");
});

async function route(): Promise<void> {
  leaveSessionPage();
  for (const p of players.values()) p.dispose();
  players.clear();
  document.getElementById("signout")!.hidden = !session.token();
  try {
    if (!session.token()) return await signInPage();
    const m = /^\/ui\/sessions\/([A-Za-z0-9_-]{22})\/?$/.exec(location.pathname);
    if (m) return await sessionPage(app, players, m[1]!);
    if (/^\/ui\/trust\/?$/.test(location.pathname)) return await trustPage();
    return await listPage();
  } catch (e) {
    if (e instanceof SignInNeeded) return void (await signInPage(e.message));
    app.replaceChildren(h("p.error", { role: "alert" }, (e as Error).message));
  }
}

async function signInPage(message?: string): Promise<void> {
  const info = await logInfo().catch(() => undefined);
  const token = h("input", {
    type: "password",
    name: "token",
    id: "token",
    autocomplete: "off",
    required: true,
  }) as HTMLInputElement;
  const trust = trustFields(info);
  const error = h("p.error", { role: "alert" }, message ?? "");
  const form = h(
    "form.card",
    { "data-form": "signin" },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Read token"),
    token,
    h(
      "p.muted",
      {},
      "Kept in this tab only (sessionStorage). Every session you open is recorded in the log as an access event.",
    ),
    ...trust.fields,
    h("button.primary", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let policy: TrustPolicy;
    try {
      policy = trust.read();
    } catch (err) {
      error.textContent = (err as Error).message;
      return;
    }
    try {
      await api("/v1/sessions?limit=1", token.value.trim());
    } catch (err) {
      error.textContent =
        err instanceof ApiFailure && err.status === 401
          ? "unknown or revoked token"
          : err instanceof ApiFailure && err.status === 403
            ? "this token lacks the read scope"
            : (err as Error).message;
      return;
    }
    session.setToken(token.value.trim());
    pinPolicy(policy);
    void route();
  });
  document.getElementById("origin")!.textContent = info?.origin ?? "";
  app.replaceChildren(form);
}

/** The pinned trust policy, and a form to change it (the only way it changes). */
async function trustPage(): Promise<void> {
  const info = await logInfo().catch(() => undefined);
  const pinned = pinnedPolicy();
  const trust = trustFields(info);
  const status = h("p", { role: "status", "data-policy": true });
  const warning = h("p.warning", { role: "alert", "data-quorum-warning": true });
  const show = (p: TrustPolicy | undefined) => {
    status.textContent = p ? `Pinned: ${describePolicy(p)}.` : "No trust policy is pinned yet.";
    const w = p && quorumWarning(p);
    warning.textContent = w ?? "";
    warning.hidden = !w;
  };
  show(pinned);
  const error = h("p.error", { role: "alert" });
  const form = h(
    "form.card",
    { "data-form": "trust" },
    h("h1", {}, "Trust policy"),
    status,
    warning,
    ...trust.fields,
    h("button.primary", { type: "submit" }, "Pin this policy"),
    error,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      const p = trust.read();
      pinPolicy(p);
      error.textContent = "";
      show(p);
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  app.replaceChildren(form);
}

async function listPage(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const field = (name: string, label: string, type = "text") =>
    h(
      "div",
      {},
      h("label", { for: name }, label),
      h("input", { type, name, id: name, value: params.get(name) ?? "" }),
    );
  const filters = h(
    "form.card.filters",
    { "data-form": "filters" },
    field("host", "Host"),
    field("user", "User"),
    field("since", "Since", "date"),
    field("until", "Until", "date"),
    field("command", "Command contains"),
    h("button.primary", { type: "submit" }, "Filter"),
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(filters as HTMLFormElement)) if (v) q.set(k, String(v));
    navigate(`/ui${q.size ? `?${q}` : ""}`);
  });
  const tbody = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Older sessions");
  const table = h(
    "table",
    { "data-list": "sessions" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Last activity", "Host", "User", "tmux session", "Started", "Events"].map((t) =>
          h("th", {}, t),
        ),
      ),
    ),
    tbody,
  );
  app.replaceChildren(h("h1", {}, "Sessions"), filters, table, more);
  const q = new URLSearchParams();
  for (const k of ["host", "user", "command"]) if (params.get(k)) q.set(k, params.get(k)!);
  if (params.get("since")) q.set("since", params.get("since")!);
  if (params.get("until")) q.set("until", `${params.get("until")}T23:59:59.999Z`);
  q.set("limit", "50");
  const load = async (before?: string) => {
    const page = new URLSearchParams(q);
    if (before) page.set("before", before);
    const rows = await api<SessionRow[]>(`/v1/sessions?${page}`);
    for (const s of rows) {
      tbody.append(
        h(
          "tr.row-link",
          {
            "data-session": s.id,
            // The whole row opens the session (the date stays a link, for the keyboard and for
            // opening in a new tab); selecting text in a row does not.
            onclick: ((e: MouseEvent) => {
              if ((e.target as HTMLElement).closest("a")) return;
              if (getSelection()?.toString()) return;
              if (e.ctrlKey || e.metaKey) window.open(`/ui/sessions/${s.id}`, "_blank", "noopener");
              else navigate(`/ui/sessions/${s.id}`);
            }) as EventListener,
          },
          h(
            "td",
            {},
            h("a", { href: `/ui/sessions/${s.id}`, "data-link": true }, formatTime(s.end)),
          ),
          h("td", {}, s.host),
          h("td", {}, s.user),
          h("td.mono", {}, s.session),
          h("td", {}, formatTime(s.start)),
          h("td", {}, s.events),
        ),
      );
    }
    if (!before && rows.length === 0)
      tbody.append(h("tr", {}, h("td", { colspan: 6 }, "No sessions match.")));
    more.hidden = rows.length < 50;
    more.onclick = () => void load(rows.at(-1)?.end);
  };
  await load();
}

void route();
