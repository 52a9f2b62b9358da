// A view per kind of run, live while it runs and the same afterwards: press (platens,
// pressure, setpoint ± tolerance, phases, dwell), peel (force against travel with the
// steady region shaded, the result in N/cm, the specimen's genealogy), aging (oven trace
// with its band, excursions, pull-out schedule, hours in/out/unmonitored), laser
// (progress, inspected holes, grade and why). Each view may return {event(msg),
// reading(msg)} to follow the run live; a result event re-renders it from the record.

import { api, ApiError } from "./api.js";
import { Chart, TimeChart } from "./chart.js";
import { loadReadings } from "./press.js";
import { el, fmtHours, fmtTime, fmtValue, unitOfName } from "./util.js";

const VIEWS = { press_cycle: pressView, peel_test: peelView, aging_run: agingView, laser_job: laserView, campaign: campaignView };

// opts.canOperate: the user may act on the run (an aging run's pull-outs).
export async function renderRunView(run, box, opts = {}) {
  box.replaceChildren();
  box.dataset.kind = run.kind;
  const view = VIEWS[run.kind] || summaryView;
  return (await view(run, box, opts)) || {};
}

const fact = (label, value, attrs = {}) =>
  el("div", { class: "fact", ...attrs }, el("span", { class: "muted" }, `${label}: `), el("b", {}, value ?? "—"));

// The kind's own record of a run, stored a moment after the run's result; null while
// it is not there yet (a live run, or one that ended before it was made).
async function record(path, attempts = 1) {
  for (let attempt = 1; ; attempt++) {
    try { return await api(path); } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      if (attempt >= attempts) return null;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

function summaryFacts(summary) {
  return el("div", { class: "facts" }, Object.entries(summary || {})
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => fact(k.replace(/_/g, " "), typeof v === "number" ? fmtValue(v, unitOfName(k)) : String(v ?? "—"), { "data-key": k })));
}

async function summaryView(run, box) {
  box.append(summaryFacts(run.summary));
}

// ---------------------------------------------------------------- press
async function pressView(run, box) {
  const s = run.summary || {};
  const r = run.recipe || {};
  box.append(el("div", { class: "facts" },
    fact("recipe", `${fmtValue(r.temperature_c, "degC")} · ${fmtValue(r.pressure_mpa, "MPa")} · ${r.dwell_min ?? "?"} min`),
    fact("dwell achieved", s.dwell_achieved_min !== undefined ? `${Number(s.dwell_achieved_min).toFixed(1)} min` : "—", { id: "detail-dwell" }),
    fact("peak platen", s.peak_temp_top_c !== undefined ? fmtValue(s.peak_temp_top_c, "degC") : "—")));
  const canvas = el("canvas", { id: "detail-chart", class: "chart" });
  box.append(canvas, el("div", { class: "legend" }, el("span", { class: "l-top" }, "platen top °C"),
    el("span", { class: "l-bottom" }, "platen bottom °C"), el("span", { class: "l-pres" }, "pressure MPa"),
    el("span", { class: "l-band" }, "setpoint ± tolerance")));
  const chart = new TimeChart(canvas);
  chart.recipeBands(r);
  for (const e of run.events) if (e.kind === "transition" && e.data?.to) chart.mark(e.ts, e.data.to);
  await loadReadings(run.id, (reading) => chart.add(reading.ts, reading.values));
  return {
    reading: (msg) => chart.add(msg.ts, msg.values),
    event: (msg) => { if (msg.kind === "transition" && msg.data?.to) chart.mark(msg.ts, msg.data.to); },
  };
}

// ---------------------------------------------------------------- peel
async function peelView(run, box) {
  const test = await record(`/api/peel-tests/${encodeURIComponent(run.id)}`, run.status === "RUNNING" ? 1 : 4);
  const result = test?.results?.at(-1);
  const strength = result ? `${result.peel_strength_n_per_cm.toFixed(1)} N/cm` : run.status === "RUNNING" ? "peeling…" : "no result";
  box.append(el("div", { class: "result-line" }, "Peel strength ", el("b", { id: "peel-strength", "data-value": result?.peel_strength_n_per_cm ?? "" }, strength),
    result ? el("span", { class: "muted" }, ` = mean force ${result.mean_force_n.toFixed(3)} N ± ${result.sd_force_n.toFixed(3)} N over ` +
      `${result.steady_start_mm.toFixed(1)}–${result.steady_end_mm.toFixed(1)} mm (${result.n_samples} points) / ${(result.width_mm / 10).toFixed(2)} cm`) : ""));
  const genealogy = el("div", { class: "facts", id: "peel-genealogy" });
  box.append(genealogy);
  if (test) {
    genealogy.append(fact("specimen", test.specimen_label), fact("laminate", test.laminate_id), fact("sample", test.sample_id),
      fact("aging", test.aging_hours ? fmtHours(test.aging_hours * 3600) : "as made"),
      fact("conditions", `${test.width_mm} mm · ${test.speed_mm_per_min} mm/min · ${test.angle_deg}°`));
    if (test.laminate_id) {
      const lams = await api(`/api/laminates?sample_id=${encodeURIComponent(test.sample_id || "")}`).catch(() => []);
      const lam = lams.find((l) => l.id === test.laminate_id);
      if (lam?.press_run_id) genealogy.append(fact("pressed by", lam.press_run_id));
    }
  }
  const canvas = el("canvas", { id: "peel-chart", class: "chart" });
  box.append(canvas, el("div", { class: "legend" }, el("span", { class: "l-force" }, "force N"), el("span", { class: "l-steady" }, "steady region (counted)")));
  const chart = new Chart(canvas, { series: [{ key: "force", color: "#2b8a3e" }],
    x: { minSpan: 1, format: (v) => `${v.toFixed(0)} mm` }, left: { label: "N", min: 0 } });
  chart.emptyText = "no curve yet";
  if (result) chart.shade(result.steady_start_mm, result.steady_end_mm, "#2b8a3e1f", "steady region");
  if (test && test.n_points) {
    const curve = await api(`/api/peel-tests/${encodeURIComponent(run.id)}/curve?max_points=4000`);
    curve.mm.forEach((mm, i) => chart.addPoint("force", mm, curve.force_n[i]));
    chart.counted();
  } else {
    // Live: the readings published while it peels carry travel and force.
    await loadReadings(run.id, (r) => { if (r.values.travel && r.values.force) chart.addPoint("force", r.values.travel.v, r.values.force.v); });
    chart.counted();
  }
  return {
    reading: (msg) => {
      if (msg.values.travel && msg.values.force) { chart.addPoint("force", msg.values.travel.v, msg.values.force.v); chart.counted(); }
    },
  };
}

// ---------------------------------------------------------------- aging
async function agingView(run, box, opts) {
  const aging = await record(`/api/aging-runs/${encodeURIComponent(run.id)}`, 3);
  const plan = run.recipe || {};
  const setpoint = aging?.setpoint_c ?? plan.setpoint_c, tol = aging?.tolerance_c ?? plan.tolerance_c;
  const target = aging?.target_h ?? plan.target_h;
  const hours = el("div", { class: "facts", id: "aging-hours" });
  const showHours = (t) => hours.replaceChildren(
    fact("in tolerance", fmtHours(t.in_s), { id: "aging-in", "data-s": String(t.in_s) }),
    fact("out of tolerance", fmtHours(t.out_s), { id: "aging-out" }),
    fact("unmonitored", fmtHours(t.unmon_s), { id: "aging-unmonitored" }),
    fact("target", target ? `${target} h in tolerance` : "—"),
    fact("excursions", String(t.excursions ?? 0)),
    fact("next pull-out", t.next_h !== undefined && t.next_h !== null ? `${t.next_h} h` : "—"));
  const totals = aging ? { in_s: aging.in_tolerance_s, out_s: aging.out_of_tolerance_s, unmon_s: aging.unmonitored_s, excursions: aging.excursion_count }
    : { in_s: 0, out_s: 0, unmon_s: 0, excursions: 0 };
  const last = run.events.filter((e) => e.kind === "progress" && e.data?.in_tolerance_h !== undefined).at(-1);
  if (last && (!aging || run.status === "RUNNING")) Object.assign(totals, fromProgress(last.data));
  showHours(totals);
  box.append(el("div", { class: "facts" }, fact("oven", aging?.oven ?? run.instrument),
    fact("setpoint", `${fmtValue(setpoint, "degC")} ± ${tol ?? "?"} °C`),
    fact("specimens", (plan.specimens || []).join(", ") || "—")), hours);

  const canvas = el("canvas", { id: "aging-chart", class: "chart" });
  box.append(canvas, el("div", { class: "legend" }, el("span", { class: "l-top" }, "oven °C"),
    el("span", { class: "l-band" }, "setpoint ± tolerance"), el("span", { class: "l-excursion" }, "excursion")));
  const chart = new Chart(canvas, { series: [{ key: "pv", color: "#d9480f" }],
    x: { minSpan: 3600, steps: [3600, 6 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 100 * 3600, 250 * 3600],
      format: (v) => `${(v / 3600).toFixed(0)} h`, relative: true },
    left: { label: "°C" } });
  if (Number.isFinite(setpoint) && Number.isFinite(tol)) chart.setBand("left", setpoint - tol, setpoint + tol, "#2b8a3e22", "tolerance");
  for (const x of aging?.excursions || []) chart.shade(x.start_ts, x.end_ts ?? aging.accounted_until_ts, "#c6282833", "");
  await loadReadings(run.id, (r) => { if (r.values.pv) chart.addPoint("pv", r.ts, r.values.pv.v); });
  chart.counted();

  const planned = plan.pullouts_h || [];
  const done = aging?.pullouts || [];
  box.append(el("h3", {}, "Pull-outs"), el("table", { id: "aging-pullouts" },
    el("thead", {}, el("tr", {}, el("th", {}, "planned"), el("th", {}, "taken at"), el("th", {}, "specimens"), el("th", {}, "when"))),
    el("tbody", {}, planned.length || done.length ? [
      ...planned.map((h) => {
        const p = done.find((d) => d.planned_h === h);
        return el("tr", { "data-planned": String(h), "data-done": String(Boolean(p)) }, el("td", {}, `${h} h`),
          el("td", {}, p ? `${p.in_tolerance_h.toFixed(1)} h` : run.status === "RUNNING" ? (totals.in_s >= h * 3600 ? "due" : "to come") : "not taken"), el("td", { class: "wrap" }, p ? p.specimen_ids.join(", ") : ""),
          el("td", {}, p ? fmtTime(p.ts) : ""));
      }),
      ...done.filter((d) => !planned.includes(d.planned_h)).map((p) => el("tr", {}, el("td", {}, "unplanned"),
        el("td", {}, `${p.in_tolerance_h.toFixed(1)} h`), el("td", { class: "wrap" }, p.specimen_ids.join(", ")), el("td", {}, fmtTime(p.ts)))),
    ] : el("tr", {}, el("td", { colspan: "4", class: "empty" }, "no pull-outs planned")))));
  if (opts.canOperate && run.status === "RUNNING") box.append(await pulloutForm(run));
  if (aging?.excursions?.length) {
    box.append(el("h3", {}, "Excursions"), el("ol", { class: "events" }, aging.excursions.map((x) => el("li", {},
      `${fmtTime(x.start_ts)} → ${x.end_ts ? fmtTime(x.end_ts) : "ongoing"}, peak ${x.peak_deviation_c > 0 ? "+" : ""}${x.peak_deviation_c.toFixed(1)} °C (${fmtValue(x.peak_pv_c, "degC")})`))));
  } else box.append(el("p", { class: "empty" }, "no excursions"));
  return {
    reading: (msg) => { if (msg.values.pv) { chart.addPoint("pv", msg.ts, msg.values.pv.v); chart.counted(); } },
    event: (msg) => { if (msg.kind === "progress" && msg.data?.in_tolerance_h !== undefined) showHours({ ...totals, ...fromProgress(msg.data) }); },
  };
}

// What the last pull-out from this page said, per run: the view is drawn again from the
// record when the pull-out's event comes back on the stream.
const pulloutNotices = new Map();

// Taking specimens out of a running aging run (POST /api/aging-runs/{id}/pullouts): those
// of the pull-out due, or the ones ticked (early); each gets the run's hours in tolerance.
async function pulloutForm(run) {
  const status = await api(`/api/aging-runs/${encodeURIComponent(run.id)}/status`);
  const inside = status.specimens.filter((s) => s.state === "AGING").map((s) => s.id);
  const due = status.pullouts_due[0];
  const notice = el("p", { id: "pullout-msg", role: "alert", class: "wrap" }, pulloutNotices.get(run.id) || "");
  const pull = async (specimenIds) => {
    try {
      const done = await api(`/api/aging-runs/${encodeURIComponent(run.id)}/pullouts`,
        { method: "POST", body: { specimen_ids: specimenIds } });
      notice.textContent = `Pulled ${done.specimen_ids.join(", ")} at ${done.in_tolerance_h.toFixed(1)} h in tolerance`;
    } catch (err) {
      notice.textContent = err instanceof ApiError ? `Refused: ${err.message}` : String(err);
    }
    pulloutNotices.set(run.id, notice.textContent);
  };
  const boxes = inside.map((id) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "pull", value: id }), ` ${id}`));
  const selected = el("button", { type: "button", id: "pullout-selected", class: "secondary", disabled: "",
    onclick: () => pull([...form.querySelectorAll("input[name=pull]:checked")].map((i) => i.value)) }, "Pull out selected");
  const form = el("div", { id: "aging-pullout", class: "operator-only" }, el("h3", {}, "Take specimens out"),
    inside.length ? el("div", { class: "checks" }, boxes) : el("p", { class: "empty" }, "no specimens left in the oven"),
    el("div", { class: "actions" },
      due ? el("button", { type: "button", id: "pullout-due", onclick: () => pull(null) },
        `Pull out the ${due.planned_h} h specimens (${due.specimens.join(", ")})`) : "",
      inside.length ? selected : ""),
    notice);
  form.addEventListener("change", () => {
    if (form.querySelector("input[name=pull]:checked")) selected.removeAttribute("disabled");
    else selected.setAttribute("disabled", "");
  });
  return form;
}

function fromProgress(d) {
  return { in_s: d.in_tolerance_h * 3600, out_s: d.out_of_tolerance_h * 3600, unmon_s: d.unmonitored_h * 3600,
    excursions: d.excursions, next_h: d.next_pullout_h };
}

// ---------------------------------------------------------------- laser
async function laserView(run, box) {
  const job = await record(`/api/laser/jobs/${encodeURIComponent(run.id)}`, run.status === "RUNNING" ? 1 : 4);
  const n = job?.n_holes ?? run.recipe?.n_holes;
  const lastProgress = run.events.filter((e) => e.kind === "progress").at(-1)?.data;
  const progress = el("progress", { id: "laser-progress", max: String(n || 1), value: String(job?.holes_done ?? lastProgress?.holes_done ?? 0) });
  const progressText = el("span", { id: "laser-progress-text" });
  const showProgress = (done) => { progress.value = done; progressText.textContent = ` ${done} of ${n ?? "?"} holes`; };
  showProgress(job?.holes_done ?? lastProgress?.holes_done ?? 0);
  box.append(el("div", { class: "result-line" }, progress, progressText));
  if (job) {
    box.append(el("div", { class: "result-line" }, "Grade ", el("b", { id: "laser-grade", class: `grade grade-${job.grade ?? "none"}` }, job.grade ?? "none")),
      el("ul", { id: "laser-why" }, job.grade_reasons.map((r) => el("li", {}, r))),
      el("p", { class: "muted" }, `rule: ${job.grade_rule}`),
      el("div", { class: "facts" }, fact("sample", job.sample_id), fact("power", fmtValue(job.power_w, "W")),
        fact("hole Ø", `${job.diameter_um} µm`), fact("pulse rate", `${(job.pulse_frequency_hz / 1000).toFixed(0)} kHz`),
        fact("rate", `${job.hole_rate_hz} holes/s`), fact("wavelength", `${job.wavelength_nm} nm`)));
    const holes = job.holes.slice(0, 200);
    box.append(el("details", { id: "laser-holes" }, el("summary", {}, `Inspected holes (${job.holes_inspected}${job.holes.length > holes.length ? `, first ${holes.length} shown` : ""})`),
      el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, ["hole", "top µm", "bottom µm", "taper", "dross", "grade"].map((h) => el("th", {}, h)))),
        el("tbody", {}, holes.map((h) => el("tr", {}, el("td", {}, String(h.hole_index)), el("td", {}, h.top_um.toFixed(1)),
          el("td", {}, h.bottom_um.toFixed(1)), el("td", {}, h.top_um ? (h.bottom_um / h.top_um).toFixed(2) : "—"),
          el("td", {}, h.dross ? "yes" : "no"), el("td", {}, h.grade))))))));
  } else box.append(el("p", { class: "empty", id: "laser-grade" }, run.status === "RUNNING" ? "drilling: graded once inspected" : "no job record"));
  return { event: (msg) => { if (msg.kind === "progress" && typeof msg.data?.holes_done === "number") showProgress(msg.data.holes_done); } };
}

// ---------------------------------------------------------------- campaign
async function campaignView(run, box) {
  box.append(summaryFacts(run.summary), el("p", {}, el("a", { href: `#table1/${encodeURIComponent(run.recipe?.campaign_id || "")}`, id: "campaign-table1" },
    `Table 1 of ${run.recipe?.title || run.recipe?.campaign_id || "this campaign"}`)));
}
