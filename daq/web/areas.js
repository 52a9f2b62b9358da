// Panels of the other areas (peel tests, aging runs, laser jobs): values as a person
// reads them, a row opens its run, an empty list says so. Each panel appears only when
// its API answers; add an entry to PANELS for a new area.

import { el, fmtHours, fmtTime } from "./util.js";

const PANELS = [
  { key: "peel-tests", title: "Peel tests", path: "/api/peel-tests", empty: "no peel tests yet",
    columns: [["specimen", (t) => t.specimen_label], ["sample", (t) => t.sample_id], ["aging", (t) => (t.aging_hours ? fmtHours(t.aging_hours * 3600) : "as made")],
      ["status", (t) => t.status], ["peel strength", (t) => (t.peel_strength_n_per_cm === null ? "—" : `${t.peel_strength_n_per_cm.toFixed(1)} N/cm`)],
      ["started", (t) => fmtTime(t.started_ts)]] },
  { key: "aging-runs", title: "Aging runs", path: "/api/aging-runs", empty: "no aging runs yet",
    columns: [["oven", (a) => a.oven], ["status", (a) => a.status], ["setpoint", (a) => `${a.setpoint_c.toFixed(1)} ± ${a.tolerance_c} °C`],
      ["in tolerance", (a) => `${fmtHours(a.in_tolerance_s)} of ${a.target_h} h`], ["out", (a) => fmtHours(a.out_of_tolerance_s)],
      ["unmonitored", (a) => fmtHours(a.unmonitored_s)], ["excursions", (a) => String(a.excursion_count)]] },
  { key: "laser-jobs", title: "Laser jobs", path: "/api/laser/jobs", empty: "no laser jobs yet",
    columns: [["sample", (j) => j.sample_id], ["state", (j) => j.state], ["holes", (j) => `${j.holes_done} of ${j.n_holes}`],
      ["open", (j) => (j.open_share === null ? "—" : `${(j.open_share * 100).toFixed(1)} %`)], ["grade", (j) => j.grade ?? "—"],
      ["started", (j) => fmtTime(j.started_ts)]] },
];

export async function mountAreaPanels(container, api, onOpenRun) {
  container.replaceChildren();
  for (const panel of PANELS) {
    let items;
    try { items = await api(`${panel.path}?limit=20`); } catch { continue; }
    const table = el("table", {}, el("thead", {}, el("tr", {}, panel.columns.map(([h]) => el("th", {}, h)))),
      el("tbody", {}, items.map((item) => el("tr", { class: "clickable", tabindex: "0", "data-run": item.id,
        onclick: () => onOpenRun(item.id), onkeydown: (ev) => { if (ev.key === "Enter") onOpenRun(item.id); } },
      panel.columns.map(([, f]) => el("td", {}, f(item) ?? ""))))));
    container.append(el("section", { class: "card", id: `panel-${panel.key}` }, el("h2", {}, panel.title),
      items.length ? el("div", { class: "scroll" }, table) : el("p", { class: "empty" }, panel.empty)));
  }
}
