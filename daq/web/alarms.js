// Alarms as ISA-18.2 has them (GET /api/alarms): each alarm's state — active
// unacknowledged, active acknowledged, cleared unacknowledged, normal, shelved — with
// acknowledge, shelve (reason and time) and unshelve for operators; the banner counts what
// still asks for attention.

import { api, ApiError } from "./api.js";
import { $, el, fmtTime } from "./util.js";

export const STATE_WORDS = {
  UNACK: "active, unacknowledged", ACKED: "active, acknowledged", RTN_UNACK: "cleared, unacknowledged",
  NORMAL: "cleared", SHELVED: "shelved",
};

export class AlarmPanel {
  constructor(root, banner, { canOperate, onChanged }) {
    this.root = root; this.banner = banner; this.canOperate = canOperate; this.onChanged = onChanged;
    $("#alarms-filter", root).addEventListener("change", () => this.load());
  }

  async load() {
    // Loads overlap (a click, the filter, an alarm message): only the latest one is shown.
    const seq = (this.loads = (this.loads || 0) + 1);
    const filter = $("#alarms-filter", this.root).value;
    const [shown, open] = await Promise.all([
      api(`/api/alarms?limit=50${filter === "open" ? "&state=open&state=SHELVED" : ""}`),
      api("/api/alarms?state=open&limit=200"),
    ]);
    if (seq !== this.loads) return;
    const body = $("#alarm-list tbody", this.root);
    body.replaceChildren(...shown.map((a) => this.row(a)));
    body.dataset.loaded = String(Date.now());
    $("#alarms-empty", this.root).hidden = shown.length > 0;
    this.renderBanner(open);
  }

  renderBanner(open) {
    const unack = open.filter((a) => a.state === "UNACK" || a.state === "RTN_UNACK");
    const active = open.filter((a) => a.active);
    this.banner.hidden = unack.length === 0 && active.length === 0;
    if (this.banner.hidden) return;
    const worst = unack.find((a) => a.severity === "critical") || unack[0] || active[0];
    this.banner.dataset.severity = worst.severity;
    this.banner.replaceChildren(el("div", { class: "alarm" },
      el("b", {}, `${unack.length} to acknowledge · ${active.length} active`),
      el("span", { class: "wrap" }, `${worst.source}: ${worst.message}`),
      el("a", { href: "#lab", class: "link", onclick: () => this.root.scrollIntoView() }, "see alarms")));
  }

  row(a) {
    const who = [a.acked_by && `acknowledged by ${a.acked_by} ${fmtTime(a.acked_ts)}`,
      a.cleared_by && `reset by ${a.cleared_by}`,
      a.state === "SHELVED" && `shelved by ${a.shelved_by} until ${fmtTime(a.shelved_until_wall)}: ${a.shelve_reason}`]
      .filter(Boolean).join(" · ");
    const actions = el("td", { class: "row-actions" });
    if (this.canOperate) {
      if (!a.acked_ts) actions.append(el("button", { type: "button", class: "small", "data-action": "ack", onclick: () => this.act(a, "ack") }, "Acknowledge"));
      if (a.state === "SHELVED") actions.append(el("button", { type: "button", class: "small secondary", "data-action": "unshelve", onclick: () => this.act(a, "unshelve") }, "Unshelve"));
      else if (a.state !== "NORMAL") actions.append(el("button", { type: "button", class: "small secondary", "data-action": "shelve", onclick: () => this.askShelve(a) }, "Shelve…"));
    }
    return el("tr", { "data-alarm": String(a.id), "data-state": a.state, "data-source": a.source, class: `sev-${a.severity}` },
      el("td", { class: "nowrap" }, fmtTime(a.ts)), el("td", {}, a.source),
      el("td", {}, el("span", { class: `pill sev-${a.severity}` }, a.severity)),
      el("td", { class: "wrap" }, a.message, a.run_id ? el("div", { class: "muted" }, a.run_id) : ""),
      el("td", {}, el("span", { class: `pill state-${a.state.toLowerCase()}`, title: a.state }, STATE_WORDS[a.state] || a.state),
        who ? el("div", { class: "muted wrap" }, who) : ""),
      actions);
  }

  async act(alarm, change, body) {
    $("#alarms-error", this.root).textContent = "";
    try {
      await api(`/api/alarms/${alarm.id}/${change}`, { method: "POST", body });
    } catch (err) {
      $("#alarms-error", this.root).textContent = err instanceof ApiError ? `Refused: ${err.message}` : String(err);
    }
    await this.load();
    this.onChanged();
  }

  askShelve(alarm) {
    const dialog = $("#shelve-dialog");
    $("#shelve-what").textContent = `${alarm.source}: ${alarm.message}`;
    $("#shelve-reason").value = "";
    $("#shelve-error").textContent = "";
    dialog.returnValue = "";
    dialog.onclose = async () => {
      if (dialog.returnValue !== "shelve") return;
      await this.act(alarm, "shelve", { reason: $("#shelve-reason").value.trim(), minutes: Number($("#shelve-minutes").value) });
    };
    dialog.showModal();
  }
}
