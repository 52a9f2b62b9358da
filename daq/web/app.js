// The dashboard: login, views (lab, runs, samples, Table 1), instruments, the forms that
// start every kind of run, the queue, the live press cycle, the run browser, alarms.
// Plain ES modules, no build.

import { api, auth, login, logout, ApiError, LiveStream } from "./api.js";
import { AlarmPanel } from "./alarms.js";
import { mountAreaPanels } from "./areas.js";
import { Catalog, clearBusyRefusals } from "./forms.js";
import { PressLive } from "./press.js";
import { QueuePanel } from "./queue.js";
import { RunBrowser } from "./runs.js";
import { Table1Page } from "./table1.js";
import { mountRegistration, mountWorkForms } from "./work.js";
import { $, $$, el, fmtValue } from "./util.js";

const state = {
  me: null, canOperate: false, instruments: new Map(), stream: null, health: null,
  catalog: new Catalog(), press: null, queue: null, runs: null, alarms: null, table1: null,
};

// ---------------------------------------------------------------- login / session
async function start() {
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", async () => { await logout(); location.reload(); });
  window.addEventListener("hashchange", showView);
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

function showView() {
  const name = (location.hash || "#lab").slice(1).split("/")[0];
  const known = $$(".view").map((v) => v.id.replace("view-", ""));
  const view = known.includes(name) ? name : "lab";
  for (const v of $$(".view")) v.hidden = v.id !== `view-${view}`;
  for (const a of $$("nav.views a")) a.setAttribute("aria-current", a.dataset.view === view ? "page" : "false");
  if (view === "runs") state.runs.load().catch(() => {});
  if (view === "table1") {
    const id = decodeURIComponent((location.hash.split("/")[1] || ""));
    state.table1.show(id || null).catch((err) => console.error("table 1", err));
  }
}

async function enter() {
  state.me = await api("/api/auth/me");
  const health = await api("/health");
  state.health = health;
  state.catalog.station = health.station;
  $("#station").textContent = `· ${health.station} · time ×${health.time_scale}`;
  $("#who-name").textContent = state.me.username;
  $("#who-role").textContent = state.me.role;
  $("#who").hidden = false;
  $("#login-panel").hidden = true;
  $("#app").hidden = false;
  state.canOperate = state.me.role === "operator" || state.me.role === "admin";
  document.body.dataset.role = state.me.role;
  state.press = new PressLive($("#press-panel"), { onEnded: onRunEnded });
  state.runs = new RunBrowser($("#runs-panel"), $("#run-detail"), { canOperate: state.canOperate });
  state.table1 = new Table1Page($("#table1"), { onOpenRun: openRun });
  state.queue = new QueuePanel($("#queue-panel"), { canOperate: state.canOperate, onOpenRun: openRun });
  state.alarms = new AlarmPanel($("#alarms-panel"), $("#alarms"), {
    canOperate: state.canOperate, onChanged: () => loadInstruments().catch(() => {}) });
  $("#reset-no").addEventListener("click", () => $("#confirm-reset").close());
  $("#reset-yes").addEventListener("click", onResetConfirmed);
  if (state.canOperate) {
    await state.catalog.load();
    await mountWorkForms($("#work-forms"), state.catalog, {
      onStarted: (runId, kind) => { if (kind === "press_cycle") state.press.follow(runId); refreshLists(); },
      onQueued: () => state.queue.load(),
    });
    await mountRegistration($("#registration"), state.catalog);
  } else {
    // A viewer gets no forms and no controls at all (not merely disabled ones).
    $("#work-panel").remove();
    $("#registration-panel").remove();
  }
  removeControls();
  showView();
  await loadInstruments();
  await state.alarms.load();
  await state.runs.load();
  await state.queue.load();
  await resumeActiveRun(health.active_runs || []);
  mountAreaPanels($("#area-panels"), api, openRun).catch(() => {});
  state.stream = new LiveStream(onStreamMessage, onStreamState);
  state.stream.start();
}

function removeControls() {
  if (!state.canOperate) for (const node of $$(".operator-only")) node.remove();
}

function refreshLists() {
  state.runs.load().catch(() => {});
  mountAreaPanels($("#area-panels"), api, openRun).catch(() => {});
  state.queue.load().catch(() => {});
  if (state.canOperate) state.catalog.load().catch(() => {});
}

function openRun(runId) {
  location.hash = "#runs";
  state.runs.show(runId).catch((err) => console.error("open run", runId, err));
}

function onRunEnded() { refreshLists(); }

function onStreamState(s, detail) {
  const conn = $("#conn");
  conn.dataset.state = s;
  conn.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", closed: "offline" }[s];
  const banner = $("#conn-banner");
  banner.hidden = !(s === "reconnecting" || (s === "closed" && detail));
  banner.textContent = detail;
  if (s === "live") {
    loadInstruments().catch(() => {});
    state.alarms.load().catch(() => {});
    state.press.refresh().catch(() => {});
  }
}

// ---------------------------------------------------------------- instruments
async function loadInstruments() {
  const list = await api("/api/instruments");
  for (const inst of list) state.instruments.set(inst.name, inst);
  state.runs.setStations([...new Set(list.map((i) => i.station).filter(Boolean))]);
  renderInstruments();
}

function renderInstruments() {
  const body = $("#instruments tbody");
  body.replaceChildren();
  for (const inst of state.instruments.values()) {
    const values = Object.entries(inst.values || {})
      .map(([ch, { v, unit }]) => (unit === "bool" ? `${ch.replace(/_/g, " ")}: ${Number(v) ? "yes" : "no"}`
        : `${ch.replace(/_/g, " ")} ${fmtValue(v, unit)}`)).join(" · ");
    const truth = inst.state || inst.status;
    const reset = state.canOperate && inst.resettable && (!inst.station || inst.station === state.health.station)
      ? el("button", { type: "button", class: "small danger", "data-action": "reset", onclick: () => askReset(inst) }, "Reset…") : "";
    body.append(el("tr", { "data-instrument": inst.name, "data-status": inst.status, "data-state": truth },
      el("td", {}, inst.name, inst.station && inst.station !== state.health.station ? el("div", { class: "muted" }, inst.station) : ""),
      el("td", { class: `status state-${truth.replace(/ /g, "-")}` }, truth, inst.cause ? el("div", { class: "cause wrap" }, inst.cause) : ""),
      el("td", {}, inst.run_id || ""),
      el("td", { class: "values wrap" }, values),
      el("td", { class: "row-actions" }, reset)));
  }
}

function askReset(inst) {
  $("#reset-name").textContent = inst.name;
  $("#reset-cause").textContent = inst.cause || "";
  $("#confirm-reset").dataset.instrument = inst.name;
  $("#confirm-reset").showModal();
}

async function onResetConfirmed() {
  const dialog = $("#confirm-reset");
  dialog.close();
  const name = dialog.dataset.instrument;
  const box = $("#instruments-error");
  box.textContent = "";
  box.classList.remove("ok");
  try {
    const out = await api(`/api/instruments/${encodeURIComponent(name)}/reset`, { method: "POST" });
    box.textContent = `${name} reset: ${out.state}, door ${out.door}` +
      (out.cleared_alarms.length ? `; ${out.cleared_alarms.length} alarm(s) cleared` : "");
    box.classList.add("ok");
  } catch (err) {
    box.textContent = err instanceof ApiError ? `Reset refused: ${err.message}` : String(err);
  }
  await loadInstruments();
  await state.alarms.load();
}

// ---------------------------------------------------------------- the live run
async function resumeActiveRun(activeIds) {
  for (const id of activeIds) {
    const run = await api(`/api/runs/${encodeURIComponent(id)}`).catch(() => null);
    if (run?.kind === "press_cycle") { await state.press.follow(id); return; }
  }
}

function onStreamMessage(msg) {
  if (msg.type === "reading") {
    const inst = state.instruments.get(msg.instrument) || { name: msg.instrument, status: "online" };
    inst.values = msg.values; inst.run_id = msg.run_id; inst.last_seen_ts = msg.ts;
    state.instruments.set(msg.instrument, inst);
    scheduleInstruments();
    state.press.reading(msg);
    state.runs.stream(msg);
  } else if (msg.type === "status") {
    const inst = state.instruments.get(msg.instrument) || { name: msg.instrument, values: {} };
    inst.status = msg.state;
    inst.state = msg.state;
    inst.cause = msg.detail || null;
    state.instruments.set(msg.instrument, inst);
    scheduleInstruments();
    loadInstruments().catch(() => {});
  } else if (msg.type === "event") {
    const data = msg.data || {};
    if (msg.kind === "note" && data.event === "started") {
      if (data.run_kind === "press_cycle") state.press.follow(msg.run_id, { recipe: data.recipe, ts: msg.ts }).catch(() => {});
      if (data.run_kind === "campaign") state.table1.refresh().catch(() => {});
      refreshLists();
    } else state.press.applyEvent(msg);
    state.runs.stream(msg);
    if (msg.kind === "transition") state.runs.update(msg.run_id, null, data.to);
    if (msg.kind === "result") {
      state.runs.update(msg.run_id, data.status, null);
      state.table1.refresh().catch(() => {});
      clearBusyRefusals();
      refreshLists();
      loadInstruments().catch(() => {});
    }
  } else if (msg.type === "alarm" || msg.type === "alarm_changed") {
    onAlarm();
  } else if (msg.type === "queue") {
    state.queue.load().catch(() => {});
  }
}

let instrumentsPending = false;
function scheduleInstruments() {
  if (instrumentsPending) return;
  instrumentsPending = true;
  setTimeout(() => { instrumentsPending = false; renderInstruments(); }, 250);
}

// A new alarm: the list and the banner from the record (it is stored before it is
// streamed), and the instruments, whose state it may explain.
function onAlarm() {
  state.alarms.load().catch(() => {});
  loadInstruments().catch(() => {});
}

start();
