// The run browser: newest first by wall-clock start, filters (kind, status, station,
// sample), search, paging; a run's detail with its view per kind, its events and CSV/JSON
// downloads.

import { api } from "./api.js";
import { $, el, fmtTime, KIND_WORDS, download } from "./util.js";
import { renderRunView } from "./views.js";

const STATUSES = ["RUNNING", "DONE", "ABORTED", "FAULTED", "INCOMPLETE", "INTERRUPTED"];

export class RunBrowser {
  constructor(root, detailRoot, { canOperate = false } = {}) {
    this.root = root; this.detailRoot = detailRoot; this.canOperate = canOperate;
    this.offset = 0; this.total = 0; this.detailRunId = null;
    for (const k of Object.keys(KIND_WORDS)) $("#runs-kind", root).append(el("option", { value: k }, KIND_WORDS[k]));
    for (const s of STATUSES) $("#runs-status", root).append(el("option", { value: s }, s));
    $("#runs-filter", root).addEventListener("submit", (ev) => { ev.preventDefault(); this.offset = 0; this.load(); });
    for (const id of ["#runs-kind", "#runs-status", "#runs-station", "#runs-limit"]) {
      $(id, root).addEventListener("change", () => { this.offset = 0; this.load(); });
    }
    $("#runs-older", root).addEventListener("click", () => { this.offset += this.pageSize(); this.load(); });
    $("#runs-newer", root).addEventListener("click", () => { this.offset = Math.max(0, this.offset - this.pageSize()); this.load(); });
    $("#detail-close", detailRoot).addEventListener("click", () => { detailRoot.hidden = true; this.detailRunId = null; });
    $("#download-csv", detailRoot).addEventListener("click", () => this.downloadCsv());
    $("#download-json", detailRoot).addEventListener("click", () => this.downloadJson());
  }

  setStations(stations) {
    const sel = $("#runs-station", this.root);
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "" }, "all"), ...stations.map((s) => el("option", { value: s }, s)));
    sel.value = keep;
  }

  pageSize() { return Number($("#runs-limit", this.root).value) || 20; }

  query() {
    const p = new URLSearchParams({ limit: String(this.pageSize()), offset: String(this.offset) });
    const put = (key, sel) => { const v = $(sel, this.root).value.trim(); if (v) p.set(key, v); };
    put("kind", "#runs-kind"); put("status", "#runs-status"); put("station", "#runs-station");
    put("sample_id", "#runs-sample"); put("q", "#runs-q");
    return p.toString();
  }

  async load() {
    // Loads overlap (a filter, a run's start or end): only the latest one is shown.
    const seq = (this.loads = (this.loads || 0) + 1);
    const query = this.query();
    const page = await api(`/api/runs?${query}`);
    if (seq !== this.loads) return;
    this.total = page.total;
    const body = $("#runs tbody", this.root);
    body.replaceChildren(...page.items.map((r) => el("tr", {
      class: "clickable", "data-run": r.id, tabindex: "0",
      onclick: () => this.show(r.id), onkeydown: (ev) => { if (ev.key === "Enter") this.show(r.id); },
    },
    el("td", { class: "id" }, r.id), el("td", {}, KIND_WORDS[r.kind] || r.kind),
    el("td", { class: `run-status st-${r.status.toLowerCase()}` }, r.status),
    el("td", {}, r.phase || ""), el("td", { title: `simulated ${fmtTime(r.started_ts)}` }, fmtTime(r.started_wall ?? r.started_ts)),
    el("td", {}, r.sample_id || ""), el("td", {}, r.station || ""), el("td", {}, r.operator || ""))));
    body.dataset.query = query;  // what the rows show (tests wait for it)
    $("#runs-empty", this.root).hidden = page.items.length > 0;
    const last = Math.min(this.offset + page.items.length, page.total);
    $("#runs-count", this.root).textContent = page.total ? `${this.offset + 1}–${last} of ${page.total}` : "";
    $("#runs-older", this.root).disabled = page.next_offset === null;
    $("#runs-newer", this.root).disabled = this.offset === 0;
  }

  // Mark a row live (status, phase) from the stream without reloading the page.
  update(runId, status, phase) {
    const row = this.root.querySelector(`#runs tr[data-run="${runId}"]`);
    if (!row) return;
    if (status) row.children[2].textContent = status;
    if (phase) row.children[3].textContent = phase;
  }

  async show(runId) {
    const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
    this.detailRunId = runId;
    const root = this.detailRoot;
    root.dataset.run = "";
    root.hidden = false;
    root.dataset.kind = run.kind;
    $("#detail-id", root).textContent = runId;
    const facts = [
      ["kind", KIND_WORDS[run.kind] || run.kind], ["status", run.status], ["phase", run.phase],
      ["operator", run.operator], ["sample", run.sample_id], ["station", run.station],
      ["reason", run.reason], ["started", fmtTime(run.started_ts)], ["ended", fmtTime(run.ended_ts)],
      ["started (wall clock)", fmtTime(run.started_wall)], ["readings stored", run.readings_stored],
    ];
    $("#detail-facts", root).replaceChildren(...facts.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => el("div", { class: "fact" }, el("span", { class: "muted" }, `${k}: `), String(v))));
    $("#detail-events", root).replaceChildren(...run.events.map((e) => el("li", {},
      el("span", { class: "muted" }, `${fmtTime(e.ts)} `), el("b", {}, e.kind), " ", describeEvent(e))));
    this.view = await renderRunView(run, $("#detail-view", root), { canOperate: this.canOperate });
    root.dataset.run = runId;  // rendered (tests wait for it)
    root.dataset.status = run.status;
    root.scrollIntoView?.({ block: "start" });
  }

  // The stream's messages of the open run: its view follows them; its result re-renders
  // it from the record.
  stream(msg) {
    if (!this.detailRunId || msg.run_id !== this.detailRunId || this.detailRoot.hidden) return;
    if (msg.type === "reading") this.view?.reading?.(msg);
    // A result, or specimens taken out of the oven: drawn again from the record.
    else if (msg.type === "event" && (msg.kind === "result" || msg.data?.what === "pullout")) this.show(this.detailRunId).catch(() => {});
    else if (msg.type === "event") this.view?.event?.(msg);
  }

  async downloadCsv() {
    const resp = await api(`/api/runs/${encodeURIComponent(this.detailRunId)}/readings?format=csv`, { raw: true });
    download(`${this.detailRunId}.csv`, await resp.blob());
  }

  async downloadJson() {
    const id = encodeURIComponent(this.detailRunId);
    const run = await api(`/api/runs/${id}`);
    const readings = [];
    let offset = 0;
    while (offset !== null) {
      const page = await api(`/api/runs/${id}/readings?limit=20000&offset=${offset}`);
      readings.push(...page.items);
      offset = page.next_offset;
    }
    download(`${this.detailRunId}.json`, new Blob([JSON.stringify({ run, readings }, null, 1)], { type: "application/json" }));
  }
}

function describeEvent(e) {
  const d = e.data || {};
  if (e.kind === "transition") return `${d.from ?? "—"} → ${d.to}${d.reason ? `: ${d.reason}` : ""}`;
  if (e.kind === "result") return `${d.status}${d.reason ? `: ${d.reason}` : ""}`;
  return Object.entries(d).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
}
