// Forms built from the station's own JSON schemas: a run kind's parameters
// (GET /api/runs/kinds) and the registration bodies (the OpenAPI components). Limits,
// defaults and field names come from the schema, so they have one home, the server;
// a refusal (422) is shown at the field it names, in the server's own words.

import { api, ApiError } from "./api.js";
import { $, el, humanize, unitOfName } from "./util.js";

// Fields whose value is picked from what the station knows, not typed.
const PICKERS = {
  sample_id: "samples", specimen_id: "specimens", laminate_id: "laminates",
  specimen_ids: "specimens", recipe_name: "recipes", press_run_id: "pressRuns",
  press: "instrument:lamination_press", tester: "instrument:peel_tester",
  oven: "instrument:aging_oven", laser: "instrument:uv_laser",
};

// The lab's records the pickers offer; refreshed after a registration and a run.
export class Catalog {
  constructor() {
    this.samples = []; this.specimens = []; this.laminates = []; this.recipes = [];
    this.pressRuns = []; this.instruments = [];
    this.listeners = new Set();
  }

  async load() {
    const [samples, specimens, laminates, recipes, runs, instruments] = await Promise.all([
      api("/api/samples?limit=500"), api("/api/specimens?limit=1000"),
      api("/api/laminates?limit=500"), api("/api/recipes"),
      api("/api/runs?kind=press_cycle&status=DONE&limit=100"), api("/api/instruments"),
    ]);
    this.samples = samples.map((s) => ({ value: s.id, label: `${s.id} · ${s.material_name}` }));
    this.specimens = specimens.map((s) => ({
      value: s.id, label: `${s.id} · ${s.state.toLowerCase().replace("_", " ")}`, state: s.state,
      sample: s.sample_id,
    }));
    this.laminates = laminates.map((l) => ({ value: l.id, label: `${l.id} · ${l.sample_id}` }));
    this.recipes = recipes.map((r) => ({ value: r.name, label: r.name, recipe: r.recipe, description: r.description }));
    this.pressRuns = runs.items.map((r) => ({ value: r.id, label: `${r.id}${r.sample_id ? ` · ${r.sample_id}` : ""}` }));
    this.instruments = instruments;
    for (const fn of this.listeners) fn();
  }

  options(source) {
    if (source.startsWith("instrument:")) {
      const driver = source.split(":")[1];
      return this.instruments.filter((i) => i.driver === driver && (!i.station || i.station === this.station))
        .map((i) => ({ value: i.name, label: i.name }));
    }
    return this[source] || [];
  }

  onChange(fn) { this.listeners.add(fn); }
}

// {type, nullable, ...bounds} of a property, resolving pydantic's anyOf [X, null].
function resolve(prop, defs) {
  let p = prop;
  // A referenced model's own title is its class name ("CampaignHeader"): the field keeps
  // its name (or the title given on the field itself).
  if (p.$ref) p = { ...(defs[p.$ref.split("/").pop()] || {}), title: undefined };
  let nullable = false;
  if (Array.isArray(p.anyOf)) {
    const real = p.anyOf.filter((v) => v.type !== "null");
    nullable = real.length < p.anyOf.length;
    p = { ...p, ...(real.length === 1 ? real[0] : { type: "object" }) };
    if (p.$ref) p = { ...(defs[p.$ref.split("/").pop()] || {}), title: prop.title, description: prop.description };
  }
  return { ...p, nullable, default: prop.default, title: prop.title ?? p.title, description: prop.description ?? p.description };
}

function boundsText(p, unit) {
  const lo = p.minimum ?? p.exclusiveMinimum, hi = p.maximum ?? p.exclusiveMaximum;
  if (lo === undefined && hi === undefined) return "";
  if (lo !== undefined && hi !== undefined) {
    if (lo === hi) return `fixed ${lo} ${unit}`.trim();
    const l = p.exclusiveMinimum !== undefined ? "above " : "", h = p.exclusiveMaximum !== undefined ? "below " : "";
    return `allowed ${l}${lo}–${h}${hi} ${unit}`.trim();
  }
  return lo !== undefined ? `allowed ${p.exclusiveMinimum !== undefined ? ">" : "≥"} ${lo} ${unit}`.trim()
    : `allowed ${p.exclusiveMaximum !== undefined ? "<" : "≤"} ${hi} ${unit}`.trim();
}

// A form of one schema. `id` prefixes every field's element ids: f-<id>-<field>,
// err-<id>-<field>; the form's own message is #<id>-error.
export class SchemaForm {
  constructor({ id, schema, catalog, primary = [], actions, advancedTitle = "more settings" }) {
    this.id = id; this.schema = schema; this.catalog = catalog;
    this.defs = schema.$defs || {};
    this.fields = new Map();
    this.required = new Set(schema.required || []);
    this.node = el("form", { id: `form-${id}`, class: "schema-form", novalidate: true });
    const main = el("div", { class: "fields" });
    const more = el("div", { class: "fields" });
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const field = this.makeField(name, resolve(prop, this.defs));
      this.fields.set(name, field);
      const important = this.required.has(name) || primary.includes(name) || primary.length === 0;
      (important ? main : more).append(field.label);
    }
    this.node.append(main);
    if (more.children.length) this.node.append(el("details", { class: "more" }, el("summary", {}, advancedTitle), more));
    this.message = el("p", { id: `${id}-error`, class: "error", role: "alert" });
    this.node.append(el("div", { class: "actions operator-only" }, actions.map((a) => el("button", {
      type: a.primary ? "submit" : "button", id: a.id, class: a.class,
      onclick: a.primary ? undefined : () => this.submit(a),
    }, a.label))), this.message);
    const primaryAction = actions.find((a) => a.primary);
    this.node.addEventListener("submit", (ev) => { ev.preventDefault(); if (primaryAction) this.submit(primaryAction); });
    catalog.onChange(() => this.refreshPickers());
    this.refreshPickers();
  }

  makeField(name, p) {
    const fid = `f-${this.id}-${name}`;
    const unit = p["x-unit"] || unitOfName(name);
    const source = PICKERS[name];
    const range = boundsText(p, unit);
    let input, kind;
    if (source && p.type === "array") {
      kind = "multi";
      input = el("select", { id: fid, name, multiple: true, size: 5 });
    } else if (source) {
      kind = "pick";
      input = el("select", { id: fid, name });
    } else if (p.enum) {
      kind = "enum";
      input = el("select", { id: fid, name }, p.enum.map((v) => el("option", { value: v }, v)));
    } else if (p.type === "number" || p.type === "integer") {
      kind = p.type;
      input = el("input", { id: fid, name, type: "number", step: p.type === "integer" ? "1" : "any",
        min: p.minimum, max: p.maximum, inputmode: "decimal" });
    } else if (p.type === "boolean") {
      kind = "boolean";
      input = el("input", { id: fid, name, type: "checkbox" });
    } else if (p.type === "array" && ["number", "integer"].includes(p.items?.type)) {
      kind = "numbers";
      input = el("input", { id: fid, name, placeholder: "e.g. 250, 500, 1000" });
    } else if (p.type === "array" && p.items?.type === "string") {
      kind = "strings";
      input = el("input", { id: fid, name, placeholder: "comma-separated" });
    } else if (p.type === "string") {
      kind = "string";
      input = el("input", { id: fid, name, maxlength: p.maxLength });
    } else {
      kind = "json";
      input = el("textarea", { id: fid, name, rows: 6, spellcheck: "false", placeholder: "JSON" });
    }
    if (p.default !== undefined && p.default !== null) setValue(input, kind, p.default);
    const title = p.title && p.title !== toTitle(name) ? p.title : humanize(name);
    const label = el("label", { for: fid, class: `field field-${kind}` },
      el("span", { class: "name" }, title, this.required.has(name) ? " *" : "", unit && !range.includes(unit) ? ` (${unit})` : ""),
      range ? el("span", { class: "range" }, range) : null,
      input,
      p.description && !p.description.startsWith("allowed") ? el("small", { class: "hint" }, p.description) : null,
      el("div", { class: "field-error", id: `err-${this.id}-${name}`, role: "alert" }));
    return { name, kind, input, label, source, prop: p };
  }

  refreshPickers() {
    for (const f of this.fields.values()) {
      if (!f.source) continue;
      const keep = f.kind === "multi" ? new Set([...f.input.selectedOptions].map((o) => o.value)) : f.input.value;
      let options = this.catalog.options(f.source);
      if (f.name === "specimen_ids") options = options.filter((o) => o.state === "AS_MADE");
      const blank = f.kind === "pick" && !this.required.has(f.name)
        ? [el("option", { value: "" }, f.source.startsWith("instrument:") ? "(the station's first)" : "(none)")] : [];
      f.input.replaceChildren(...blank, ...options.map((o) => el("option", { value: o.value }, o.label)));
      if (f.kind === "multi") for (const o of f.input.options) o.selected = keep.has(o.value);
      else if (keep && options.some((o) => o.value === keep)) f.input.value = keep;
    }
  }

  set(name, value) {
    const f = this.fields.get(name);
    if (f) setValue(f.input, f.kind, value);
  }

  // The values as the schema wants them; empty optional fields are left out (defaults apply).
  values() {
    const out = {};
    const problems = [];
    for (const f of this.fields.values()) {
      const raw = f.input.value;
      if (f.kind === "multi") {
        const picked = [...f.input.selectedOptions].map((o) => o.value);
        if (picked.length) out[f.name] = picked;
      } else if (f.kind === "boolean") out[f.name] = f.input.checked;
      else if (raw.trim() === "") continue;
      else if (f.kind === "number" || f.kind === "integer") out[f.name] = Number(raw);
      else if (f.kind === "numbers") out[f.name] = raw.split(/[,\s]+/).filter(Boolean).map(Number);
      else if (f.kind === "strings") out[f.name] = raw.split(/[,\s]+/).filter(Boolean);
      else if (f.kind === "json") {
        try { out[f.name] = JSON.parse(raw); } catch (err) { problems.push([f.name, `not JSON: ${err.message}`]); }
      } else out[f.name] = raw.trim();
    }
    return { values: out, problems };
  }

  clearErrors() {
    for (const f of this.fields.values()) {
      $(`#err-${this.id}-${f.name}`, this.node).textContent = "";
      f.input.classList.remove("invalid");
      f.input.removeAttribute("aria-invalid");
    }
    this.message.textContent = "";
    this.message.classList.remove("ok");
    delete this.message.dataset.busy;
  }

  showFieldError(name, text) {
    const f = this.fields.get(name);
    if (!f) return false;
    $(`#err-${this.id}-${name}`, this.node).textContent = text;
    f.input.classList.add("invalid");
    f.input.setAttribute("aria-invalid", "true");
    const details = f.label.closest("details");
    if (details) details.open = true;
    return true;
  }

  // Show a refusal: each 422 detail at its field (after "params." in its name), the
  // rest in the form's message.
  showError(err) {
    // A refusal because an instrument is busy holds only while the run holding it lasts.
    if (err instanceof ApiError && err.status === 409) this.message.dataset.busy = "true";
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body?.detail)) {
      const loose = [];
      for (const d of err.body.detail) {
        const field = String(d.field || "");
        const name = (field.includes("params.") ? field.split("params.").pop() : field).split(".")[0];
        if (!this.showFieldError(name, d.msg)) loose.push(`${field || "request"}: ${d.msg}`);
      }
      this.message.textContent = `Refused: ${loose.length ? loose.join("; ") : "correct the marked fields."}`;
    } else {
      this.message.textContent = err instanceof ApiError ? `Refused: ${err.message}` : String(err);
    }
  }

  say(text) { this.message.textContent = text; this.message.classList.add("ok"); }

  async submit(action) {
    this.clearErrors();
    const { values, problems } = this.values();
    if (problems.length) {
      for (const [n, m] of problems) this.showFieldError(n, m);
      this.message.textContent = "Not started: correct the marked fields.";
      return;
    }
    const button = action.id ? this.node.querySelector(`#${action.id}`) : null;
    if (button) button.disabled = true;
    try {
      const out = await action.send(values);
      if (action.done) await action.done(out, this);
    } catch (err) {
      this.showError(err);
    } finally {
      if (button) button.disabled = false;
    }
  }
}

function toTitle(name) {
  return name.split("_").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(" ");
}

function setValue(input, kind, value) {
  if (kind === "boolean") input.checked = Boolean(value);
  else if (kind === "multi") { const want = new Set(value); for (const o of input.options) o.selected = want.has(o.value); }
  else if (kind === "json") input.value = JSON.stringify(value, null, 2);
  else if (Array.isArray(value)) input.value = value.join(", ");
  else input.value = String(value);
}

// A run ended: "Refused: busy" messages are out of date; take them away.
export function clearBusyRefusals(root = document) {
  for (const node of root.querySelectorAll(".schema-form .error[data-busy]")) {
    node.textContent = "";
    delete node.dataset.busy;
  }
}
