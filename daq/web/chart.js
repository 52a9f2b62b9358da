// A small time-series chart on <canvas>: two y axes (left °C, right MPa), vertical phase
// markers, redrawn at most once per animation frame. No dependencies.

const COLORS = { temp_top: "#d9480f", temp_bottom: "#7048e8", pressure: "#1c7ed6" };

export class TimeChart {
  constructor(canvas, { maxPoints = 20000 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.maxPoints = maxPoints;
    this.clear();
  }

  clear() {
    this.series = { temp_top: [], temp_bottom: [], pressure: [] };
    this.markers = [];
    this.t0 = null;
    this.points = 0;
    this.canvas.dataset.points = "0";
    this.schedule();
  }

  // Add one reading: ts in simulated epoch seconds, values {channel: {v, unit}}.
  add(ts, values) {
    if (this.t0 === null) this.t0 = ts;
    for (const ch of Object.keys(this.series)) {
      const item = values[ch];
      if (item === undefined) continue;
      const s = this.series[ch];
      s.push([ts, item.v]);
      if (s.length > this.maxPoints) s.splice(0, s.length - this.maxPoints);
    }
    this.points += 1;
    this.canvas.dataset.points = String(this.points);  // observable progress (tests, a11y)
    this.schedule();
  }

  mark(ts, label) {
    if (this.t0 === null) this.t0 = ts;
    this.markers.push([ts, label]);
    this.canvas.dataset.markers = this.markers.map((m) => m[1]).join(" ");
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { ctx, canvas } = this;
    const W = canvas.width, H = canvas.height;
    const pad = { l: 48, r: 48, t: 18, b: 28 };
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif";
    const all = [...this.series.temp_top, ...this.series.temp_bottom, ...this.series.pressure];
    if (all.length === 0 && this.markers.length === 0) {
      ctx.fillStyle = "#999";
      ctx.fillText("waiting for readings…", W / 2 - 50, H / 2);
      return;
    }
    let tMin = Infinity, tMax = -Infinity;
    for (const [t] of all) { if (t < tMin) tMin = t; if (t > tMax) tMax = t; }
    for (const [t] of this.markers) { if (t < tMin) tMin = t; if (t > tMax) tMax = t; }
    if (tMax - tMin < 60) tMax = tMin + 60;
    const temps = [...this.series.temp_top, ...this.series.temp_bottom].map((p) => p[1]);
    const cMax = Math.max(220, ...temps), cMin = Math.min(0, ...temps);
    const pres = this.series.pressure.map((p) => p[1]);
    const pMax = Math.max(4, ...pres);
    const x = (t) => pad.l + ((t - tMin) / (tMax - tMin)) * (W - pad.l - pad.r);
    const yC = (c) => H - pad.b - ((c - cMin) / (cMax - cMin)) * (H - pad.t - pad.b);
    const yP = (p) => H - pad.b - (p / pMax) * (H - pad.t - pad.b);

    // Grid and axes.
    ctx.strokeStyle = "#e6e8eb"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
    for (let i = 0; i <= 5; i++) {
      const c = cMin + ((cMax - cMin) * i) / 5, y = yC(c);
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(W - pad.r, y); ctx.stroke();
      ctx.fillText(c.toFixed(0), 6, y + 4);
      ctx.fillText(((pMax * i) / 5).toFixed(1), W - pad.r + 6, y + 4);
    }
    ctx.fillText("°C", 6, pad.t - 4); ctx.fillText("MPa", W - pad.r + 6, pad.t - 4);
    const spanMin = (tMax - tMin) / 60;
    const step = niceStep(spanMin / 6);
    for (let m = 0; m <= spanMin; m += step) {
      const xx = x(tMin + m * 60);
      ctx.fillText(`${m.toFixed(step < 1 ? 1 : 0)} min`, xx - 12, H - 8);
    }

    // Phase markers.
    ctx.strokeStyle = "#adb5bd"; ctx.setLineDash([4, 4]);
    this.markers.forEach(([t, label], i) => {
      const xx = x(t);
      ctx.beginPath(); ctx.moveTo(xx, pad.t); ctx.lineTo(xx, H - pad.b); ctx.stroke();
      // Phases can follow each other within seconds: stagger the labels in three rows.
      ctx.save(); ctx.fillStyle = "#495057"; ctx.fillText(label, xx + 3, pad.t + 10 + (i % 3) * 12); ctx.restore();
    });
    ctx.setLineDash([]);

    // Series.
    const line = (pts, y, color) => {
      if (pts.length === 0) return;
      ctx.strokeStyle = color; ctx.lineWidth = 1.6; ctx.beginPath();
      pts.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
      ctx.stroke();
    };
    line(this.series.temp_top, yC, COLORS.temp_top);
    line(this.series.temp_bottom, yC, COLORS.temp_bottom);
    line(this.series.pressure, yP, COLORS.pressure);
  }
}

function niceStep(raw) {
  for (const s of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (raw <= s) return s;
  return 1200;
}
