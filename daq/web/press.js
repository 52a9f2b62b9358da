// The live press cycle: phase, status, the dwell counted as the procedure counts it
// (only while both platens and the pressure are inside tolerance), elapsed simulated
// time and the ETA of the end of the dwell, the chart with setpoint ± tolerance bands.

import { api, ApiError } from "./api.js";
import { TimeChart } from "./chart.js";
import { $, fmtDuration } from "./util.js";

export class PressLive {
  constructor(root, { onEnded }) {
    this.root = root;
    this.onEnded = onEnded;
    this.chart = new TimeChart($("#live-chart", root));
    this.run = null;
    $("#abort-run", root)?.addEventListener("click", () => this.askAbort());
    $("#confirm-no")?.addEventListener("click", () => $("#confirm-abort").close());
    $("#confirm-yes")?.addEventListener("click", () => this.abort());
  }

  // Follow a run: its snapshot (events and readings so far) from the API, with what the
  // stream delivers meanwhile buffered and applied after it, skipping what it had.
  async follow(runId, started = null) {
    if (this.run && this.run.id === runId) {
      // Started from this page: the stream's "started" event brings the recipe.
      if (started?.recipe && !Number.isFinite(this.run.recipe.temperature_c)) {
        this.run.recipe = started.recipe;
        this.chart.recipeBands(started.recipe);
        this.render();
      }
      return;
    }
    const run = { id: runId, recipe: started?.recipe || {}, phase: null, status: "RUNNING", dwellS: 0,
      lastTs: null, lastInTol: false, startedTs: started?.ts ?? null, latestTs: null,
      loading: true, bufferedEvents: [], bufferedReadings: [] };
    this.run = run;
    this.chart.clear();
    this.chart.recipeBands(run.recipe);
    this.render();
    const seen = new Set();
    let lastTs = -Infinity;
    try {
      const snapshot = await this.snapshot(runId);
      if (this.run !== run) return;
      if (snapshot) {
        run.recipe = snapshot.recipe && Object.keys(snapshot.recipe).length ? snapshot.recipe : run.recipe;
        run.status = snapshot.status;
        run.startedTs = snapshot.started_ts;
        this.chart.recipeBands(run.recipe);
        run.loading = false;
        for (const e of snapshot.events || []) { seen.add(eventKey(e)); this.applyEvent({ ...e, run_id: runId }, false); }
        run.loading = true;
        await loadReadings(runId, (r) => { this.accumulateDwell(r); this.chart.add(r.ts, r.values); lastTs = r.ts; }, () => this.run !== run);
      }
    } catch (err) {
      console.error("loading run", runId, err);  // the live stream still carries it on
    } finally {
      if (this.run === run) {
        run.loading = false;
        for (const e of run.bufferedEvents) if (!seen.has(eventKey(e))) this.applyEvent(e);
        for (const r of run.bufferedReadings) if (r.ts > lastTs) this.reading(r);
        run.bufferedEvents = []; run.bufferedReadings = [];
        this.render();
      }
    }
  }

  // The run's record; a run just started may not be stored yet (its start waits in the
  // journal a moment): then the stream's "started" event is all we have, and enough.
  async snapshot(runId) {
    try { return await api(`/api/runs/${encodeURIComponent(runId)}`); } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  async refresh() {
    if (!this.run) return;
    const snap = await this.snapshot(this.run.id);
    if (!snap) return;
    this.run.status = snap.status; this.run.phase = snap.phase;
    this.render();
  }

  reading(msg) {
    const run = this.run;
    if (!run || msg.run_id !== run.id) return;
    if (run.loading) { run.bufferedReadings.push(msg); return; }
    this.accumulateDwell(msg);
    this.chart.add(msg.ts, msg.values);
    this.render();
  }

  applyEvent(e, live = true) {
    const run = this.run;
    if (!run || (e.run_id && e.run_id !== run.id)) return;
    if (run.loading) { run.bufferedEvents.push(e); return; }
    const data = e.data || {};
    if (e.kind === "transition" && data.to) {
      run.phase = data.to;
      this.chart.mark(e.ts, data.to);
    }
    if (e.kind === "note" && data.event === "started" && run.startedTs === null) run.startedTs = e.ts;
    if (e.kind === "note" && typeof data.dwell_min === "number") run.dwellS = data.dwell_min * 60;
    if (e.kind === "result" && data.status) {
      run.status = data.status;
      run.endedTs = e.ts;
      if (data.summary && typeof data.summary.dwell_achieved_min === "number") run.dwellS = data.summary.dwell_achieved_min * 60;
      if (live) this.onEnded(run.id);
    }
    this.render();
  }

  accumulateDwell(reading) {
    const run = this.run;
    const v = reading.values, r = run.recipe;
    run.latestTs = reading.ts;
    if (run.startedTs === null) run.startedTs = reading.ts;
    const inTol = run.phase === "DWELL" && v.temp_top && v.temp_bottom && v.pressure &&
      Math.abs(v.temp_top.v - r.temperature_c) <= r.temperature_tolerance_c &&
      Math.abs(v.temp_bottom.v - r.temperature_c) <= r.temperature_tolerance_c &&
      Math.abs(v.pressure.v - r.pressure_mpa) <= r.pressure_tolerance_mpa;
    if (inTol && run.lastTs !== null && run.lastInTol) run.dwellS += reading.ts - run.lastTs;
    run.lastTs = reading.ts;
    run.lastInTol = inTol;
  }

  render() {
    const run = this.run;
    if (!run) return;
    $("#live-run", this.root).textContent = run.id;
    $("#live-phase", this.root).textContent = run.phase || "—";
    $("#live-status", this.root).textContent = run.status || "—";
    const target = run.recipe.dwell_min;
    const counter = $("#dwell-counter", this.root);
    counter.textContent = `${(run.dwellS / 60).toFixed(1)} / ${target ?? "?"} min`;
    counter.dataset.dwellS = String(run.dwellS);
    const until = run.endedTs ?? run.latestTs;
    $("#live-elapsed", this.root).textContent = run.startedTs !== null && until !== null ? fmtDuration(until - run.startedTs) : "—";
    $("#live-eta", this.root).textContent = this.eta();
    const abort = $("#abort-run", this.root);
    if (abort) abort.disabled = run.status !== "RUNNING";
  }

  // When the dwell ends, in simulated time: the rest of the heating at the recipe's
  // ramp, then the dwell still to count. After the dwell: cooling, then done.
  eta() {
    const run = this.run, r = run.recipe;
    if (run.status !== "RUNNING") return "—";
    const left = Math.max(0, (r.dwell_min ?? 0) * 60 - run.dwellS);
    if (run.phase === "DWELL" || run.phase === "PRESS") return `dwell ends in ${fmtDuration(left)}`;
    if (run.phase === "HEAT" || run.phase === "PRECHECK" || run.phase === null) {
      const t = this.chart.series.temp_top.at(-1)?.[1];
      const heat = Number.isFinite(t) && r.ramp_rate_c_per_min ? Math.max(0, (r.temperature_c - t) / r.ramp_rate_c_per_min) * 60 : 0;
      return `dwell ends in ≈ ${fmtDuration(heat + left)}`;
    }
    return run.phase === "COOL" ? `cooling to ${r.unload_temperature_c ?? "?"} °C` : "releasing";
  }

  askAbort() {
    if (!this.run) return;
    $("#confirm-run").textContent = this.run.id;
    $("#confirm-abort").showModal();
  }

  async abort() {
    $("#confirm-abort").close();
    try {
      await api(`/api/runs/${encodeURIComponent(this.run.id)}/abort`, { method: "POST" });
    } catch (err) {
      $("#live-status", this.root).textContent = err instanceof ApiError ? `abort refused: ${err.message}` : String(err);
    }
  }
}

function eventKey(e) {
  const d = e.data || {};
  return `${e.ts}|${e.kind}|${d.to ?? d.status ?? d.note ?? d.event ?? ""}`;
}

// Every stored reading of a run, grouped by timestamp into {ts, run_id, values}.
export async function loadReadings(runId, each, cancelled = () => false) {
  let offset = 0;
  const byTs = new Map();
  while (offset !== null && offset < 400000) {
    if (cancelled()) return;
    const page = await api(`/api/runs/${encodeURIComponent(runId)}/readings?limit=20000&offset=${offset}`);
    for (const r of page.items) {
      const entry = byTs.get(r.ts) || { ts: r.ts, run_id: runId, values: {} };
      entry.values[r.channel] = { v: r.value, unit: r.unit };
      byTs.set(r.ts, entry);
    }
    offset = page.next_offset;
  }
  for (const reading of byTs.values()) each(reading);
}
