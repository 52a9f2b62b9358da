// Small charts on <canvas>, no dependencies: an x axis (time or any quantity), a left and
// an optional right y axis, series, horizontal bands (setpoint ± tolerance), shaded x
// regions (the peel's steady region), vertical markers (phases). The canvas is sized to
// its box times the device pixel ratio on every draw, so it stays sharp at any width;
// drawing happens at most once per animation frame.

export class Chart {
  constructor(canvas, { series, x = {}, left = {}, right = null, maxPoints = 20000 }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.defs = series;            // [{key, color, axis: "left"|"right", label}]
    this.xAxis = x;                // {format(v, span) -> text, minSpan}
    this.left = left;              // {label, min, max} (min/max: at least this range)
    this.right = right;
    this.maxPoints = maxPoints;
    this.clear();
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.schedule()).observe(canvas);
  }

  clear() {
    this.series = Object.fromEntries(this.defs.map((d) => [d.key, []]));
    this.markers = [];
    this.bands = [];
    this.regions = [];
    this.points = 0;
    this.canvas.dataset.points = "0";
    this.canvas.dataset.markers = "";
    this.schedule();
  }

  addPoint(key, xv, yv) {
    const s = this.series[key];
    if (!s || !Number.isFinite(xv) || !Number.isFinite(yv)) return;
    s.push([xv, yv]);
    if (s.length > this.maxPoints) s.splice(0, s.length - this.maxPoints);
  }

  counted() {
    this.points += 1;
    this.canvas.dataset.points = String(this.points);  // observable progress (tests, a11y)
    this.schedule();
  }

  mark(xv, label) {
    this.markers.push([xv, label]);
    this.canvas.dataset.markers = this.markers.map((m) => m[1]).join(" ");
    this.schedule();
  }

  setBand(axis, lo, hi, color, label = "") {
    this.bands = this.bands.filter((b) => b.label !== label);
    this.bands.push({ axis, lo, hi, color, label });
    this.canvas.dataset.bands = this.bands.map((b) => `${b.label}:${b.lo}..${b.hi}`).join(" ");
    this.schedule();
  }

  shade(x0, x1, color, label = "") {
    this.regions.push({ x0, x1, color, label });
    this.canvas.dataset.regions = this.regions.map((r) => `${r.label}:${r.x0}..${r.x1}`).join(" ");
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { ctx, canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || canvas.width, cssH = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(cssW * ratio) || canvas.height !== Math.round(cssH * ratio)) {
      canvas.width = Math.round(cssW * ratio); canvas.height = Math.round(cssH * ratio);
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const W = cssW, H = cssH;
    const pad = { l: 48, r: this.right ? 48 : 14, t: 44, b: 28 };
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif";
    const all = this.defs.flatMap((d) => this.series[d.key]);
    if (all.length === 0 && this.markers.length === 0) {
      ctx.fillStyle = "#777";
      ctx.fillText(this.emptyText || "waiting for readings…", W / 2 - 50, H / 2);
      return;
    }
    let xMin = Infinity, xMax = -Infinity;
    for (const [xv] of all) { if (xv < xMin) xMin = xv; if (xv > xMax) xMax = xv; }
    for (const [xv] of this.markers) { if (xv < xMin) xMin = xv; if (xv > xMax) xMax = xv; }
    for (const r of this.regions) { xMin = Math.min(xMin, r.x0); xMax = Math.max(xMax, r.x1); }
    const minSpan = this.xAxis.minSpan ?? 1;
    if (xMax - xMin < minSpan) xMax = xMin + minSpan;
    const range = (axis, spec) => {
      const vals = this.defs.filter((d) => (d.axis || "left") === axis).flatMap((d) => this.series[d.key].map((p) => p[1]));
      for (const b of this.bands) if (b.axis === axis) vals.push(b.lo, b.hi);
      let lo = Math.min(spec.min ?? Infinity, ...vals), hi = Math.max(spec.max ?? -Infinity, ...vals);
      if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
      if (hi - lo < 1e-9) hi = lo + 1;
      return [lo, hi];
    };
    const [lMin, lMax] = range("left", this.left);
    const [rMin, rMax] = this.right ? range("right", this.right) : [0, 1];
    const x = (v) => pad.l + ((v - xMin) / (xMax - xMin)) * (W - pad.l - pad.r);
    const yOf = (lo, hi) => (v) => H - pad.b - ((v - lo) / (hi - lo)) * (H - pad.t - pad.b);
    const yL = yOf(lMin, lMax), yR = yOf(rMin, rMax);

    for (const r of this.regions) {
      ctx.fillStyle = r.color;
      ctx.fillRect(x(r.x0), pad.t, x(r.x1) - x(r.x0), H - pad.t - pad.b);
      if (r.label) { ctx.fillStyle = "#2b6a3f"; ctx.fillText(r.label, x(r.x0) + 4, H - pad.b - 6); }
    }
    for (const b of this.bands) {
      const y = b.axis === "right" ? yR : yL;
      ctx.fillStyle = b.color;
      ctx.fillRect(pad.l, y(b.hi), W - pad.l - pad.r, Math.max(1, y(b.lo) - y(b.hi)));
    }
    // Grid and axes.
    ctx.strokeStyle = "#e6e8eb"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
    for (let i = 0; i <= 5; i++) {
      const v = lMin + ((lMax - lMin) * i) / 5, yy = yL(v);
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(W - pad.r, yy); ctx.stroke();
      ctx.fillText(fmtTick(v, lMax - lMin), 4, yy + 4);
      if (this.right) ctx.fillText(fmtTick(rMin + ((rMax - rMin) * i) / 5, rMax - rMin), W - pad.r + 6, yy + 4);
    }
    ctx.fillText(this.left.label || "", 4, pad.t - 6);
    if (this.right) ctx.fillText(this.right.label || "", W - pad.r + 6, pad.t - 6);
    const span = xMax - xMin;
    const raw = span / Math.max(2, Math.floor((W - pad.l - pad.r) / 90));
    const step = this.xAxis.steps ? (this.xAxis.steps.find((s) => s >= raw) ?? niceStep(raw)) : niceStep(raw);
    const fmtX = this.xAxis.format || ((v) => fmtTick(v, span));
    const base = this.xAxis.relative ? xMin : 0;
    for (let v = base + Math.ceil((xMin - base) / step - 1e-9) * step; v <= xMax + 1e-9; v += step) {
      const text = fmtX(v - base, span);
      ctx.fillText(text, Math.min(x(v) - ctx.measureText(text).width / 2, W - pad.r - ctx.measureText(text).width), H - 8);
    }

    // Markers: labels go in the first of three rows above the plot where they fit.
    ctx.strokeStyle = "#adb5bd"; ctx.setLineDash([4, 4]);
    const rowEnds = [-Infinity, -Infinity, -Infinity];
    for (const [mx, label] of this.markers) {
      const xx = x(mx);
      ctx.beginPath(); ctx.moveTo(xx, pad.t); ctx.lineTo(xx, H - pad.b); ctx.stroke();
      const w = ctx.measureText(label).width;
      const left = Math.min(xx + 2, W - pad.r - w);
      const row = rowEnds.findIndex((end) => left > end + 4);
      if (row < 0) continue;  // no room: the dashed line still shows where
      rowEnds[row] = left + w;
      ctx.fillStyle = "#495057"; ctx.fillText(label, left, 12 + row * 12);
    }
    ctx.setLineDash([]);

    for (const d of this.defs) {
      const pts = this.series[d.key];
      if (pts.length === 0) continue;
      const y = d.axis === "right" ? yR : yL;
      ctx.strokeStyle = d.color; ctx.lineWidth = 1.6; ctx.beginPath();
      pts.forEach(([xv, v], i) => (i ? ctx.lineTo(x(xv), y(v)) : ctx.moveTo(x(xv), y(v))));
      ctx.stroke();
    }
  }
}

function fmtTick(v, span) {
  return span >= 20 ? v.toFixed(0) : span >= 2 ? v.toFixed(1) : v.toFixed(2);
}

function niceStep(raw) {
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

const COLORS = { temp_top: "#d9480f", temp_bottom: "#7048e8", pressure: "#1c7ed6" };

// The press chart: platen temperatures (°C, left) and pressure (MPa, right) against
// minutes since the first point, with the recipe's setpoint ± tolerance bands.
export class TimeChart extends Chart {
  constructor(canvas) {
    super(canvas, {
      series: [
        { key: "temp_top", color: COLORS.temp_top }, { key: "temp_bottom", color: COLORS.temp_bottom },
        { key: "pressure", color: COLORS.pressure, axis: "right" },
      ],
      x: { minSpan: 60, relative: true, steps: [30, 60, 120, 300, 600, 900, 1800, 3600, 7200],
        format: (v) => `${(v / 60).toFixed(v % 60 ? 1 : 0)} min` },
      left: { label: "°C", min: 0, max: 220 }, right: { label: "MPa", min: 0, max: 4 },
    });
  }

  // ts in simulated epoch seconds, values {channel: {v, unit}}.
  add(ts, values) {
    for (const ch of Object.keys(this.series)) if (values[ch] !== undefined) this.addPoint(ch, ts, values[ch].v);
    this.counted();
  }

  // The recipe's setpoint ± tolerance for the platens and for the pressure.
  recipeBands(recipe) {
    if (!Number.isFinite(recipe?.temperature_c)) return;
    const tt = recipe.temperature_tolerance_c ?? 0, pt = recipe.pressure_tolerance_mpa ?? 0;
    this.setBand("left", recipe.temperature_c - tt, recipe.temperature_c + tt, "#d9480f22", "temperature");
    this.setBand("right", recipe.pressure_mpa - pt, recipe.pressure_mpa + pt, "#1c7ed622", "pressure");
  }
}
