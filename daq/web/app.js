// The dashboard: login, instruments, press cycle form and live chart, abort, runs and
// run detail with CSV download, alarms banner, area panels. Plain ES modules, no build.

import { api, auth, login, logout, ApiError, LiveStream } from "./api.js";
import { TimeChart } from "./chart.js";
import { mountAreaPanels } from "./areas.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return node;
};
const fmtTime = (ts) => (ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) : "—");
const FORM_FIELDS = ["temperature_c", "pressure_mpa", "dwell_min", "ramp_rate_c_per_min"];

const state = {
  me: null, limits: {}, recipes: [], instruments: new Map(), stream: null,
  run: null,      // { id, recipe, phase, status, dwellS, lastTs, inTol }
  liveChart: null, detailChart: null, detailRunId: null,
};

// ---------------------------------------------------------------- login / session
async function start() {
  state.liveChart = new TimeChart($("#live-chart"));
  state.detailChart = new TimeChart($("#detail-chart"));
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", async () => { await logout(); location.reload(); });
  $("#cycle-form").addEventListener("submit", onStartCycle);
  $("#recipe-select").addEventListener("change", () => fillRecipe($("#recipe-select").value));
  $("#abort-run").addEventListener("click", onAbortClicked);
  $("#confirm-no").addEventListener("click", () => $("#confirm-abort").close());
  $("#confirm-yes").addEventListener("click", onAbortConfirmed);
  $("#refresh-runs").addEventListener("click", loadRuns);
  $("#detail-close").addEventListener("click", () => { $("#run-detail").hidden = true; });
  $("#download-csv").addEventListener("click", downloadCsv);
  if (auth.token) {
    try { await enter(); return; } catch { auth.token = null; }
  }
  $("#login-panel").hidden = false;
}

async function onLogin(ev) {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await login($("#login-user").value, $("#login-password").value);
    await enter();
  } catch (err) {
    $("#login-error").textContent = err instanceof ApiError ? err.message : String(err);
  }
}

async function enter() {
  state.me = await api("/api/auth/me");
  const health = await api("/health");
  $("#station").textContent = `· ${health.station} · time ×${health.time_scale}`;
  $("#who-name").textContent = state.me.username;
  $("#who-role").textContent = state.me.role;
  $("#who").hidden = false;
  $("#login-panel").hidden = true;
  $("#app").hidden = false;
  const canOperate = state.me.role === "operator" || state.me.role === "admin";
  // A viewer gets no start/abort controls at all (not merely disabled ones).
  for (const node of document.querySelectorAll(".operator-only")) {
    if (!canOperate) node.remove();
  }
  state.limits = await api("/api/recipes/limits");
  await loadRecipes();
  await loadInstruments();
  await loadRuns();
  await resumeActiveRun(health.active_runs || []);
  mountAreaPanels($("#area-panels"), api).catch(() => {});
  state.stream = new LiveStream(onStreamMessage, onStreamState);
  state.stream.start();
}

function onStreamState(s, detail) {
  const conn = $("#conn");
  conn.dataset.state = s;
  conn.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", closed: "offline" }[s];
  const banner = $("#conn-banner");
  banner.hidden = !(s === "reconnecting" || (s === "closed" && detail));
  banner.textContent = detail;
  if (s === "live") { loadInstruments().catch(() => {}); refreshRun().catch(() => {}); }
}

// ---------------------------------------------------------------- instruments
async function loadInstruments() {
  for (const inst of await api("/api/instruments")) state.instruments.set(inst.name, inst);
  renderInstruments();
}

function renderInstruments() {
  const body = $("#instruments tbody");
  body.replaceChildren();
  for (const inst of state.instruments.values()) {
    const values = Object.entries(inst.values || {})
      .map(([ch, { v, unit }]) => `${ch} ${Number(v).toFixed(2)} ${unit}`).join(" · ");
    body.append(el("tr", { "data-instrument": inst.name },
      el("td", {}, inst.name),
      el("td", { class: `status-${inst.status}` }, inst.status),
      el("td", {}, inst.run_id || ""),
      el("td", { class: "values" }, values)));
  }
}

// ---------------------------------------------------------------- recipes and the form
async function loadRecipes() {
  state.recipes = await api("/api/recipes");
  const select = $("#recipe-select");
  select.replaceChildren(...state.recipes.map((r) => el("option", { value: r.name }, `${r.name} — ${r.description}`)));
  const box = $("#recipe-fields");
  box.replaceChildren();
  for (const field of FORM_FIELDS) {
    const w = state.limits[field];
    box.append(el("label", { for: `f-${field}` }, w.label,
      el("span", { class: "range" }, `allowed ${w.low}–${w.high} ${w.unit}`),
      el("input", { id: `f-${field}`, name: field, type: "number", step: "any", min: w.low, max: w.high }),
      el("div", { class: "field-error", id: `err-${field}`, role: "alert" })));
  }
  fillRecipe(select.value);
}

function fillRecipe(name) {
  const recipe = state.recipes.find((r) => r.name === name)?.recipe;
  if (!recipe) return;
  for (const field of FORM_FIELDS) $(`#f-${field}`).value = recipe[field];
  clearFieldErrors();
}

function clearFieldErrors() {
  for (const field of FORM_FIELDS) {
    $(`#err-${field}`).textContent = "";
    $(`#f-${field}`).classList.remove("invalid");
  }
  $("#cycle-error").textContent = "";
}

function showFieldError(field, message) {
  const box = $(`#err-${field}`);
  if (box) { box.textContent = message; $(`#f-${field}`).classList.add("invalid"); }
  else $("#cycle-error").textContent = message;
}

// The same sentence as the server's: "temperature 250 °C is outside the allowed window 150–200 °C".
function checkWindows(values) {
  const problems = [];
  for (const field of FORM_FIELDS) {
    const w = state.limits[field], v = values[field];
    if (!Number.isFinite(v)) problems.push([field, `${w.label}: enter a number`]);
    else if (v < w.low || v > w.high) {
      problems.push([field, `${w.label} ${v} ${w.unit} is outside the allowed window ${w.low}–${w.high} ${w.unit}`]);
    }
  }
  return problems;
}

async function onStartCycle(ev) {
  ev.preventDefault();
  clearFieldErrors();
  const base = state.recipes.find((r) => r.name === $("#recipe-select").value)?.recipe || {};
  const recipe = { ...base };
  for (const field of FORM_FIELDS) recipe[field] = parseFloat($(`#f-${field}`).value);
  const problems = checkWindows(recipe);
  if (problems.length) {
    for (const [field, msg] of problems) showFieldError(field, msg);
    $("#cycle-error").textContent = "Not started: correct the marked fields.";
    return;
  }
  const body = { recipe };
  const sample = $("#sample-id").value.trim();
  if (sample) body.sample_id = sample;
  $("#start-cycle").disabled = true;
  try {
    const out = await api("/api/press/cycles", { method: "POST", body });
    await followRun(out.run_id);
    loadRuns().catch(() => {});
  } catch (err) {
    showApiErrors(err);
  } finally {
    $("#start-cycle").disabled = false;
  }
}

function showApiErrors(err) {
  if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body?.detail)) {
    for (const d of err.body.detail) showFieldError(String(d.field || "").split(".").pop(), d.msg);
    $("#cycle-error").textContent = `Refused: ${err.message}`;
  } else {
    $("#cycle-error").textContent = err instanceof ApiError ? `Refused: ${err.message}` : String(err);
  }
}

// ---------------------------------------------------------------- the live run
async function resumeActiveRun(activeIds) {
  for (const id of activeIds) {
    const run = await api(`/api/runs/${encodeURIComponent(id)}`);
    if (run.kind === "press_cycle") { await followRun(id, run); return; }
  }
}

// Follow a run: snapshot (events and readings so far) from the API, and what the stream
// delivers meanwhile is buffered and applied after it, skipping what the snapshot had.
async function followRun(runId, detail) {
  if (state.run && state.run.id === runId) return;
  const run = { id: runId, recipe: {}, phase: null, status: "RUNNING", dwellS: 0, lastTs: null,
    loading: true, bufferedEvents: [], bufferedReadings: [] };
  state.run = run;
  state.liveChart.clear();
  renderRun();
  const seen = new Set();
  let lastTs = -Infinity;
  try {
    const snapshot = detail || (await api(`/api/runs/${encodeURIComponent(runId)}`));
    if (state.run !== run) return;
    run.recipe = snapshot.recipe || {};
    run.status = snapshot.status;
    run.loading = false;
    for (const e of snapshot.events || []) { seen.add(eventKey(e)); applyEvent({ ...e, run_id: runId }, false); }
    run.loading = true;
    await loadReadingsInto(state.liveChart, runId, (r) => { accumulateDwell(r); lastTs = r.ts; }, () => state.run !== run);
  } catch (err) {
    console.error("loading run", runId, err);  // the live stream still carries it on
  } finally {
    if (state.run === run) {
      run.loading = false;
      for (const e of run.bufferedEvents) if (!seen.has(eventKey(e))) applyEvent(e);
      for (const r of run.bufferedReadings) if (r.ts > lastTs) { accumulateDwell(r); state.liveChart.add(r.ts, r.values); }
      run.bufferedEvents = []; run.bufferedReadings = [];
      renderRun();
    }
  }
}

function eventKey(e) {
  const d = e.data || {};
  return `${e.ts}|${e.kind}|${d.to ?? d.status ?? d.note ?? d.event ?? ""}`;
}

async function refreshRun() {
  if (!state.run) return;
  const run = await api(`/api/runs/${encodeURIComponent(state.run.id)}`);
  state.run.status = run.status; state.run.phase = run.phase;
  renderRun();
}

function applyEvent(e, live = true) {
  const run = state.run;
  if (!run || e.run_id && e.run_id !== run.id) return;
  if (run.loading) { run.bufferedEvents.push(e); return; }
  const data = e.data || {};
  if (e.kind === "transition" && data.to) {
    run.phase = data.to;
    state.liveChart.mark(e.ts, data.to);
  }
  const row = document.querySelector(`#runs tr[data-run="${run.id}"]`);
  if (row) {
    row.children[2].textContent = data.status || run.status || "";
    row.children[3].textContent = run.phase || "";
  }
  if (e.kind === "note" && typeof data.dwell_min === "number") run.dwellS = data.dwell_min * 60;
  if (e.kind === "result" && data.status) {
    run.status = data.status;
    if (data.summary && typeof data.summary.dwell_achieved_min === "number") run.dwellS = data.summary.dwell_achieved_min * 60;
    if (live) loadRuns().catch(() => {});
  }
  renderRun();
}

// Dwell counts only while both platens and the pressure are inside tolerance (as the
// procedure counts it); the procedure's own figures replace this estimate when they come.
function accumulateDwell(reading) {
  const run = state.run;
  if (!run || reading.run_id && reading.run_id !== run.id) return;
  const v = reading.values, r = run.recipe;
  const inTol = run.phase === "DWELL" && v.temp_top && v.temp_bottom && v.pressure &&
    Math.abs(v.temp_top.v - r.temperature_c) <= r.temperature_tolerance_c &&
    Math.abs(v.temp_bottom.v - r.temperature_c) <= r.temperature_tolerance_c &&
    Math.abs(v.pressure.v - r.pressure_mpa) <= r.pressure_tolerance_mpa;
  if (inTol && run.lastTs !== null && run.lastInTol) run.dwellS += reading.ts - run.lastTs;
  run.lastTs = reading.ts;
  run.lastInTol = inTol;
}

function renderRun() {
  const run = state.run;
  if (!run) return;
  $("#live-run").textContent = run.id;
  $("#live-phase").textContent = run.phase || "—";
  $("#live-status").textContent = run.status || "—";
  const target = run.recipe.dwell_min;
  $("#dwell-counter").textContent = `${(run.dwellS / 60).toFixed(1)} / ${target ?? "?"} min`;
  const abort = $("#abort-run");
  if (abort) abort.disabled = run.status !== "RUNNING";
}

function onStreamMessage(msg) {
  if (msg.type === "reading") {
    const inst = state.instruments.get(msg.instrument) || { name: msg.instrument, status: "online" };
    inst.values = msg.values; inst.run_id = msg.run_id; inst.last_seen_ts = msg.ts;
    state.instruments.set(msg.instrument, inst);
    scheduleInstruments();
    if (state.run && msg.run_id === state.run.id && state.run.loading) {
      state.run.bufferedReadings.push(msg);
    } else if (state.run && msg.run_id === state.run.id) {
      accumulateDwell(msg);
      state.liveChart.add(msg.ts, msg.values);
      renderRun();
    }
  } else if (msg.type === "status") {
    const inst = state.instruments.get(msg.instrument) || { name: msg.instrument, values: {} };
    inst.status = msg.state;
    state.instruments.set(msg.instrument, inst);
    scheduleInstruments();
  } else if (msg.type === "event") {
    const startedPress = msg.kind === "note" && msg.data?.event === "started" && msg.data?.run_kind === "press_cycle";
    if (startedPress && (!state.run || state.run.id !== msg.run_id)) {
      followRun(msg.run_id).catch(() => {});
    } else applyEvent(msg);
  } else if (msg.type === "alarm") {
    showAlarm(msg);
  }
}

let instrumentsPending = false;
function scheduleInstruments() {
  if (instrumentsPending) return;
  instrumentsPending = true;
  setTimeout(() => { instrumentsPending = false; renderInstruments(); }, 250);
}

function showAlarm(alarm) {
  const box = $("#alarms");
  const row = el("div", { class: "alarm", "data-severity": alarm.severity },
    el("b", {}, alarm.severity.toUpperCase()), el("span", {}, `${fmtTime(alarm.ts)} ${alarm.source}: ${alarm.message}`),
    el("button", { class: "link", onclick: () => { row.remove(); box.hidden = !box.children.length; } }, "dismiss"));
  box.prepend(row);
  while (box.children.length > 5) box.lastChild.remove();
  box.hidden = false;
}

// ---------------------------------------------------------------- abort
function onAbortClicked() {
  if (!state.run) return;
  $("#confirm-run").textContent = state.run.id;
  $("#confirm-abort").showModal();
}

async function onAbortConfirmed() {
  $("#confirm-abort").close();
  try {
    await api(`/api/runs/${encodeURIComponent(state.run.id)}/abort`, { method: "POST" });
  } catch (err) {
    $("#cycle-error").textContent = err instanceof ApiError ? `Abort refused: ${err.message}` : String(err);
  }
}

// ---------------------------------------------------------------- runs and detail
async function loadRuns() {
  const page = await api("/api/runs?limit=20");
  const body = $("#runs tbody");
  body.replaceChildren(...page.items.map((r) => el("tr", { class: "clickable", "data-run": r.id, onclick: () => showRun(r.id) },
    el("td", {}, r.id), el("td", {}, r.kind), el("td", { class: "run-status" }, r.status),
    el("td", {}, r.phase || ""), el("td", {}, fmtTime(r.started_ts)), el("td", {}, r.operator || ""))));
}

async function loadReadingsInto(chart, runId, each, cancelled = () => false) {
  let offset = 0;
  const byTs = new Map();
  while (offset !== null && offset < 200000) {
    if (cancelled()) return;
    const page = await api(`/api/runs/${encodeURIComponent(runId)}/readings?limit=20000&offset=${offset}`);
    for (const r of page.items) {
      const entry = byTs.get(r.ts) || { ts: r.ts, run_id: runId, values: {} };
      entry.values[r.channel] = { v: r.value, unit: r.unit };
      byTs.set(r.ts, entry);
    }
    offset = page.next_offset;
  }
  for (const reading of byTs.values()) { if (each) each(reading); chart.add(reading.ts, reading.values); }
}

async function showRun(runId) {
  const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  state.detailRunId = runId;
  $("#run-detail").hidden = false;
  $("#detail-id").textContent = runId;
  const s = run.summary || {};
  const facts = [
    ["status", run.status], ["phase", run.phase], ["operator", run.operator], ["reason", run.reason],
    ["started", fmtTime(run.started_ts)], ["ended", fmtTime(run.ended_ts)],
    ["readings stored", run.readings_stored],
    ["dwell achieved", s.dwell_achieved_min !== undefined ? `${s.dwell_achieved_min} min` : "—"],
    ["peak platen", s.peak_temp_top_c !== undefined ? `${s.peak_temp_top_c} °C` : "—"],
  ];
  $("#detail-facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("span", { class: "muted" }, `${k}: `), v ?? "—")));
  $("#detail-events").replaceChildren(...run.events.map((e) => el("li", {}, `${fmtTime(e.ts)} ${e.kind} ${JSON.stringify(e.data)}`)));
  state.detailChart.clear();
  for (const e of run.events) if (e.kind === "transition" && e.data?.to) state.detailChart.mark(e.ts, e.data.to);
  await loadReadingsInto(state.detailChart, runId);
}

async function downloadCsv() {
  const resp = await api(`/api/runs/${encodeURIComponent(state.detailRunId)}/readings?format=csv`, { raw: true });
  const blob = await resp.blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: `${state.detailRunId}.csv` });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

start();
