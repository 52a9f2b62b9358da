// Small helpers shared by the dashboard's modules: DOM building, and numbers, units and
// times written as a person reads them (9.2 N/cm, 150.0 °C, 1000 h).

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

// The unit a channel or a parameter is in, from the name's suffix (the lab's names carry
// their units: temperature_c, pressure_mpa, width_mm, …) or from the unit the API gives.
const SUFFIX_UNITS = [
  ["_c_per_min", "°C/min"], ["_mm_per_min", "mm/min"], ["_n_per_cm", "N/cm"],
  ["_mpa", "MPa"], ["_min", "min"], ["_mm", "mm"], ["_um", "µm"], ["_hz", "Hz"],
  ["_deg", "°"], ["_nm", "nm"], ["_w", "W"], ["_h", "h"], ["_s", "s"], ["_c", "°C"], ["_n", "N"],
];
const UNIT_WORDS = { degC: "°C", MPa: "MPa", mm: "mm", N: "N", W: "W", um: "µm", pct: "%" };

export function unitOfName(name) {
  for (const [suffix, unit] of SUFFIX_UNITS) if (name.endsWith(suffix)) return unit;
  return "";
}

export function unitWord(unit) {
  return UNIT_WORDS[unit] ?? unit ?? "";
}

// Decimals per unit: what the instruments resolve, no more.
const DECIMALS = { "°C": 1, MPa: 2, "N/cm": 1, N: 2, mm: 1, "µm": 1, W: 2, min: 1, h: 1, s: 0, "%": 1 };

export function fmtNumber(v, unit = "") {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  const d = DECIMALS[unit] ?? (Number.isInteger(n) ? 0 : 2);
  return n.toFixed(d);
}

export function fmtValue(v, unit = "") {
  const u = unitWord(unit);
  if (u === "bool") return Number(v) ? "on" : "off";
  const text = fmtNumber(v, u);
  return text === "—" || !u ? text : `${text} ${u}`;
}

// Hours: whole hours when large (1000 h), one decimal below 100.
export function fmtHours(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const h = seconds / 3600;
  return `${h >= 100 ? h.toFixed(0) : h.toFixed(1)} h`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h >= 48) return `${(s / 3600).toFixed(0)} h`;
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  return `${m} min ${String(r).padStart(2, "0")} s`;
}

export const fmtTime = (ts) => (ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) : "—");

export const KIND_WORDS = {
  press_cycle: "press cycle", peel_test: "peel test", aging_run: "aging run",
  laser_job: "laser job", campaign: "campaign",
};

export function humanize(name) {
  return name.replace(/_/g, " ").replace(/\b(c|mpa|mm|um|hz|w|h|min|deg|nm|s)\b$/i, "").trim();
}

export function download(filename, blob) {
  const a = el("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
