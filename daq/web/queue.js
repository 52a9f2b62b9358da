// The run queue (GET /api/queue): queued items in order with move up/down and remove,
// the running item, recent history with each item's run and outcome; start and stop.

import { api, ApiError } from "./api.js";
import { $, el, fmtTime, KIND_WORDS } from "./util.js";

const SUMMARY_KEYS = ["recipe_name", "temperature_c", "dwell_min", "sample_id", "specimen_id", "specimen_ids", "hours", "n_holes"];

function summary(params) {
  const parts = [];
  for (const k of SUMMARY_KEYS) {
    if (params[k] === undefined || params[k] === null) continue;
    const v = Array.isArray(params[k]) ? params[k].join(", ") : params[k];
    parts.push(`${k.replace(/_/g, " ")} ${v}`);
  }
  if (params.campaign?.name) parts.push(`campaign ${params.campaign.name}`);
  return parts.join(" · ") || "defaults";
}

export class QueuePanel {
  constructor(root, { canOperate, onOpenRun }) {
    this.root = root; this.canOperate = canOperate; this.onOpenRun = onOpenRun;
    this.state = null;
    $("#queue-start", root)?.addEventListener("click", () => this.act(() => api("/api/queue/start", { method: "POST" })));
    $("#queue-stop", root)?.addEventListener("click", () => this.act(() => api("/api/queue/stop", { method: "POST" })));
  }

  async act(call) {
    $("#queue-error", this.root).textContent = "";
    try { await call(); } catch (err) {
      $("#queue-error", this.root).textContent = err instanceof ApiError ? `Refused: ${err.message}` : String(err);
    }
    await this.load();
  }

  async load() {
    // Loads overlap (a click, a queue message, a run's end): only the latest one is shown.
    const seq = (this.loads = (this.loads || 0) + 1);
    const q = await api("/api/queue?history_limit=10");
    if (seq !== this.loads) return;
    this.state = q;
    this.root.dataset.state = q.state;
    $("#queue-state", this.root).textContent = q.state;
    const start = $("#queue-start", this.root), stop = $("#queue-stop", this.root);
    if (start) start.disabled = q.state !== "stopped" || q.items.length === 0;
    if (stop) stop.disabled = q.state !== "running";
    const body = $("#queue-items tbody", this.root);
    const rows = [];
    if (q.running) rows.push(this.row(q.running, null, q.items.length));
    q.items.forEach((item, i) => rows.push(this.row(item, i, q.items.length)));
    body.replaceChildren(...rows);
    $("#queue-empty", this.root).hidden = rows.length > 0;
    const hist = $("#queue-history", this.root);
    hist.replaceChildren(...[...q.history].reverse().map((item) => el("li", { "data-uid": item.uid, "data-state": item.state },
      el("span", { class: `pill st-${(item.outcome || item.state).toLowerCase()}` }, item.outcome || item.state), " ",
      KIND_WORDS[item.kind] || item.kind, " ",
      item.run_id ? el("button", { type: "button", class: "link", "data-run-link": item.run_id, onclick: () => this.onOpenRun(item.run_id) }, item.run_id) : "",
      item.message ? el("span", { class: "muted" }, ` — ${item.message}`) : "")));
  }

  row(item, index, count) {
    const controls = this.canOperate && index !== null ? el("td", { class: "row-actions" },
      el("button", { type: "button", class: "small", title: "move up", "aria-label": "move up", disabled: index === 0,
        onclick: () => this.act(() => api(`/api/queue/${item.uid}/move`, { method: "POST", body: { position: index - 1 } })) }, "↑"),
      el("button", { type: "button", class: "small", title: "move down", "aria-label": "move down", disabled: index === count - 1,
        onclick: () => this.act(() => api(`/api/queue/${item.uid}/move`, { method: "POST", body: { position: index + 1 } })) }, "↓"),
      el("button", { type: "button", class: "small danger", title: "remove", "aria-label": "remove",
        onclick: () => this.act(() => api(`/api/queue/${item.uid}`, { method: "DELETE" })) }, "✕"))
      : el("td", {});
    return el("tr", { "data-uid": item.uid, "data-kind": item.kind, "data-state": item.state },
      el("td", {}, index === null ? "▶" : String(index + 1)),
      el("td", {}, KIND_WORDS[item.kind] || item.kind),
      el("td", { class: "wrap" }, summary(item.params)),
      el("td", {}, item.state, item.waiting_for ? el("div", { class: "muted wrap" }, `waiting: ${item.waiting_for}`) : ""),
      el("td", {}, item.run_id ? el("button", { type: "button", class: "link", onclick: () => this.onOpenRun(item.run_id) }, item.run_id) : ""),
      el("td", { class: "muted" }, `${item.operator || ""} ${fmtTime(item.added_wall)}`),
      controls);
  }
}
