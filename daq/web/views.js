// A view per kind of run, the same for a finished run as for a live one when opened:
// press (platens, pressure, setpoint ± tolerance, phases, dwell), and for other kinds
// their summary until their own view is given.

import { TimeChart } from "./chart.js";
import { loadReadings } from "./press.js";
import { el, fmtValue, unitOfName } from "./util.js";

const VIEWS = { press_cycle: pressView };

export async function renderRunView(run, box) {
  box.replaceChildren();
  box.dataset.kind = run.kind;
  const view = VIEWS[run.kind] || summaryView;
  await view(run, box);
}

function summaryFacts(summary) {
  return el("div", { class: "facts" }, Object.entries(summary || {})
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => el("div", { class: "fact", "data-key": k }, el("span", { class: "muted" }, `${k.replace(/_/g, " ")}: `),
      typeof v === "number" ? fmtValue(v, unitOfName(k)) : String(v ?? "—"))));
}

async function summaryView(run, box) {
  box.append(summaryFacts(run.summary));
}

async function pressView(run, box) {
  const s = run.summary || {};
  const r = run.recipe || {};
  box.append(el("div", { class: "facts" },
    el("div", { class: "fact" }, el("span", { class: "muted" }, "recipe: "),
      `${fmtValue(r.temperature_c, "degC")} · ${fmtValue(r.pressure_mpa, "MPa")} · ${r.dwell_min ?? "?"} min`),
    el("div", { class: "fact", id: "detail-dwell" }, el("span", { class: "muted" }, "dwell achieved: "),
      s.dwell_achieved_min !== undefined ? `${Number(s.dwell_achieved_min).toFixed(1)} min` : "—"),
    el("div", { class: "fact" }, el("span", { class: "muted" }, "peak platen: "),
      s.peak_temp_top_c !== undefined ? fmtValue(s.peak_temp_top_c, "degC") : "—")));
  const canvas = el("canvas", { id: "detail-chart", class: "chart" });
  box.append(canvas, el("div", { class: "legend" }, el("span", { class: "l-top" }, "platen top °C"),
    el("span", { class: "l-bottom" }, "platen bottom °C"), el("span", { class: "l-pres" }, "pressure MPa"),
    el("span", { class: "l-band" }, "setpoint ± tolerance")));
  const chart = new TimeChart(canvas);
  chart.recipeBands(r);
  for (const e of run.events) if (e.kind === "transition" && e.data?.to) chart.mark(e.ts, e.data.to);
  await loadReadings(run.id, (reading) => chart.add(reading.ts, reading.values));
}
