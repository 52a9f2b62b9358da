// Table 1 of a campaign (GET /api/campaigns/{id}/table1): each sample's peel strength as
// made and after aging, and its laser grade, beside the patent's value with pass/fail
// against the report's tolerance; every number links to its run and specimen. Live while
// the campaign runs (reloaded on each run result).

import { api } from "./api.js";
import { $, el, fmtTime } from "./util.js";

const n2 = (v) => (v === null || v === undefined ? "—" : v.toFixed(2));
const signed = (v) => (v === null || v === undefined ? "—" : `${Math.abs(v) < 0.005 ? "+0.00" : (v > 0 ? "+" : "") + v.toFixed(2)}`);
const known = (passed) => passed !== null && passed !== undefined;
const verdictSpan = (passed) => (known(passed)
  ? el("span", { class: `verdict ${passed ? "pass" : "fail"}`, "data-pass": String(passed) }, passed ? "pass" : "fail") : "—");
const verdict = (passed) => el("td", {}, verdictSpan(passed));

export class Table1Page {
  constructor(root, { onOpenRun }) {
    this.root = root; this.onOpenRun = onOpenRun; this.campaignId = null; this.pending = false;
  }

  async show(campaignId) {
    const campaigns = await api("/api/campaigns");
    if (!campaigns.length) {
      this.root.replaceChildren(el("p", { class: "empty" }, "No campaigns yet: start one from the campaign form (or `daq campaign run campaigns/table1.toml`)."));
      return;
    }
    this.campaignId = campaignId && campaigns.some((c) => c.id === campaignId) ? campaignId : campaigns[0].id;
    const pick = el("select", { id: "table1-campaign", "aria-label": "campaign", onchange: (ev) => { location.hash = `#table1/${encodeURIComponent(ev.target.value)}`; } },
      campaigns.map((c) => el("option", { value: c.id, selected: c.id === this.campaignId }, `${c.id} · ${c.status}`)));
    this.box = el("div", { id: "table1-body" });
    this.root.replaceChildren(el("div", { class: "filters" }, el("label", {}, "Campaign ", pick)), this.box);
    await this.load();
  }

  // A run ended somewhere: reload the table if it is on screen; a result that arrives
  // while a load is under way is followed by one more load, so the last one is shown.
  // With no campaign shown yet ("No campaigns yet"), the list is looked at again: a
  // campaign started meanwhile appears without a reload.
  async refresh() {
    if (this.root.closest(".view")?.hidden) return;
    if (this.pending) { this.again = true; return; }
    this.pending = true;
    try {
      do {
        this.again = false;
        if (this.campaignId && this.box?.isConnected) await this.load();
        else await this.show(null);
      } while (this.again);
    } finally { this.pending = false; }
  }

  async load() {
    const t = await api(`/api/campaigns/${encodeURIComponent(this.campaignId)}/table1`);
    const c = t.campaign;
    const link = (runId, text, attrs = {}) => (runId
      ? el("button", { type: "button", class: "link", title: runId, "data-run": runId, onclick: () => this.onOpenRun(runId), ...attrs }, text) : text);
    const peelCell = (cell, col) => el("td", { class: "num", "data-col": col },
      cell.mean_n_per_cm === null ? "—" : el("b", { class: "mean" }, n2(cell.mean_n_per_cm)),
      cell.sd_n_per_cm !== null ? el("span", { class: "muted" }, ` ± ${n2(cell.sd_n_per_cm)}`) : "",
      el("div", { class: "specimens" }, cell.specimens.map((p) => link(p.run_id,
        `${p.specimen_id.split("-").pop()} ${n2(p.peel_strength_n_per_cm)}`, { "data-specimen": p.specimen_id, title: `${p.specimen_id} · ${p.run_id}` }))));
    const rows = t.rows.map((r) => (r.no_film
      ? el("tr", { "data-lot": r.lot, class: "nofilm" }, el("td", {}, r.label), el("td", {}, r.lot), el("td", { class: "num" }, r.adhesive_thickness_um.toFixed(0)),
        el("td", { colspan: "9", class: "wrap", "data-col": "as_made" }, r.note && r.note.startsWith("no film") ? r.note : `no film${r.note ? `: ${r.note}` : ""}`))
      : el("tr", { "data-lot": r.lot },
        el("td", {}, r.label), el("td", {}, link(r.press_run_id, r.lot)), el("td", { class: "num" }, r.adhesive_thickness_um.toFixed(0)),
        peelCell(r.as_made, "as_made"), el("td", { class: "num" }, n2(r.as_made.patent_n_per_cm)),
        el("td", { class: "num" }, signed(r.as_made.diff_n_per_cm)), verdict(r.as_made.passed),
        peelCell(r.aged, "aged"), el("td", { class: "num" }, n2(r.aged.patent_n_per_cm)),
        el("td", { class: "num" }, signed(r.aged.diff_n_per_cm)), verdict(r.aged.passed),
        el("td", { "data-col": "grade" }, link(r.laser_run_id, r.laser_grade ?? "—"),
          el("span", { class: "muted" }, ` patent ${r.patent_laser_grade ?? "—"} `), verdictSpan(r.grade_passed)))));
    this.box.replaceChildren(
      el("p", { id: "table1-progress" }, el("b", {}, c.title), ` · ${c.status} · ${c.steps_done} of ${c.steps_total} steps done · started ${fmtTime(c.started_ts)}`,
        c.ended_ts ? ` · ended ${fmtTime(c.ended_ts)}` : "", c.reason ? el("span", { class: "error" }, ` · ${c.reason}`) : "",
        t.aging_run_id ? [" · aging ", link(t.aging_run_id, t.aging_run_id)] : ""),
      el("progress", { max: String(c.steps_total || 1), value: String(c.steps_done) }),
      el("div", { class: "scroll" }, el("table", { id: "table1-table", class: "table1" },
        el("thead", {}, el("tr", {}, ["sample", "lot", "adhesive µm", "peel as made N/cm", "patent", "diff", "", "after 150 °C × 1000 h", "patent", "diff", "", "laser grade"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows))),
      el("p", { class: "muted" }, `pass: within ±${t.tolerance_n_per_cm} N/cm of the patent (as the report judges); the grade must be identical. Each specimen's value opens its run.`));
    this.box.dataset.status = c.status;
    const option = this.root.querySelector(`#table1-campaign option[value="${CSS.escape(c.id)}"]`);
    if (option) option.textContent = `${c.id} · ${c.status}`;
    this.box.dataset.rows = String(t.rows.length);
  }
}
