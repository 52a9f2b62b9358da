// Starting work: a form per kind of run (from GET /api/runs/kinds), each with "Start"
// (POST /api/runs) and "Add to queue" (POST /api/queue); registration of lots, laminates
// and specimens (forms from the OpenAPI bodies of POST /api/samples|laminates|specimens).

import { api } from "./api.js";
import { SchemaForm } from "./forms.js";
import { el, KIND_WORDS } from "./util.js";

// Fields shown first per kind; the rest fold under "more settings".
const PRIMARY = {
  press_cycle: ["recipe_name", "temperature_c", "pressure_mpa", "dwell_min", "ramp_rate_c_per_min", "sample_id"],
  peel_test: ["specimen_id", "width_mm", "speed_mm_per_min"],
  aging_run: ["specimen_ids", "setpoint_c", "hours", "pullouts_h"],
  laser_job: ["sample_id", "n_holes", "power_w"],
  campaign: ["campaign", "samples"],
};

// Mount the kinds' forms in `container` (tabs); `onStarted(runId, kind)` follows a start,
// `onQueued()` refreshes the queue.
export async function mountWorkForms(container, catalog, { onStarted, onQueued }) {
  const kinds = await api("/api/runs/kinds");
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const panes = el("div", { class: "panes" });
  const forms = {};
  for (const kind of kinds) {
    const pane = el("div", { class: "pane", id: `work-${kind.kind}`, role: "tabpanel", hidden: true });
    const form = new SchemaForm({
      id: kind.kind, schema: kind.params_schema, catalog, primary: PRIMARY[kind.kind] || [],
      actions: [
        { id: `start-${kind.kind}`, label: `Start ${KIND_WORDS[kind.kind] || kind.kind}`, primary: true,
          send: (params) => api("/api/runs", { method: "POST", body: { kind: kind.kind, params } }),
          done: (out, f) => { f.say(`Started ${out.run_id}`); onStarted(out.run_id, kind.kind); } },
        { id: `queue-${kind.kind}`, label: "Add to queue", class: "secondary",
          send: (params) => api("/api/queue", { method: "POST", body: { kind: kind.kind, params } }),
          done: (out, f) => { f.say(`Queued ${KIND_WORDS[kind.kind] || kind.kind} (${out.uid.slice(0, 8)})`); onQueued(); } },
      ],
    });
    forms[kind.kind] = form;
    pane.append(el("p", { class: "muted" }, kind.description), form.node);
    panes.append(pane);
    tabs.append(el("button", { type: "button", role: "tab", class: "tab", id: `tab-${kind.kind}`,
      "aria-controls": `work-${kind.kind}`, onclick: () => select(kind.kind) }, KIND_WORDS[kind.kind] || kind.kind));
  }
  const select = (name) => {
    for (const t of tabs.children) t.setAttribute("aria-selected", String(t.id === `tab-${name}`));
    for (const p of panes.children) p.hidden = p.id !== `work-${name}`;
  };
  container.replaceChildren(tabs, panes);
  select(kinds[0]?.kind);
  if (forms.campaign) await mountCampaignFiles($pane(panes, "campaign"), forms.campaign);
  const press = forms.press_cycle;
  if (press) {
    const fill = () => {
      const r = catalog.recipes.find((x) => x.value === press.fields.get("recipe_name").input.value);
      if (r) for (const [k, v] of Object.entries(r.recipe)) if (k !== "name") press.set(k, v);
    };
    press.fields.get("recipe_name")?.input.addEventListener("change", fill);
    catalog.onChange(() => { if (!press.filled) { press.set("recipe_name", "default"); fill(); press.filled = true; } });
    if (catalog.recipes.length) { press.set("recipe_name", "default"); fill(); press.filled = true; }
  }
  return { forms, select };
}

function $pane(panes, kind) { return panes.querySelector(`#work-${kind}`); }

// The campaign form starts from one of the station's campaign files (GET
// /api/campaigns/files): picking one fills every field from it, to start as it is or
// changed. A file the station cannot read is listed with why.
async function mountCampaignFiles(pane, form) {
  const files = await api("/api/campaigns/files");
  const note = el("p", { id: "campaign-file-note", class: "muted wrap" });
  const select = el("select", { id: "campaign-file" },
    el("option", { value: "" }, files.length ? "— pick a campaign file —" : "no campaign files on the station"),
    files.map((f) => el("option", { value: f.file, disabled: f.error ? "" : undefined },
      f.error ? `${f.file} (unreadable)` : `${f.file} — ${f.title || f.id}`)));
  const fill = () => {
    const f = files.find((x) => x.file === select.value);
    if (!f) { note.textContent = ""; return; }
    for (const [k, v] of Object.entries(f.params)) form.set(k, v);
    note.textContent = `${f.file}: campaign ${f.id}, ${f.params.samples.length} lots (sha256 ${f.sha256.slice(0, 12)}…)`;
  };
  select.addEventListener("change", fill);
  const bad = files.filter((f) => f.error).map((f) => el("li", {}, f.error));
  pane.insertBefore(el("div", { class: "campaign-files" },
    el("label", { for: "campaign-file" }, "Campaign file", select), note,
    bad.length ? el("ul", { class: "error" }, bad) : ""), form.node);
  const first = files.find((f) => !f.error);
  if (first) { select.value = first.file; fill(); }
}

const REGISTRATIONS = [
  { key: "sample", title: "Sample lot", schema: "SampleIn", path: "/api/samples" },
  { key: "laminate", title: "Laminate", schema: "LaminateIn", path: "/api/laminates" },
  { key: "specimen", title: "Specimen", schema: "SpecimenIn", path: "/api/specimens" },
];

export async function mountRegistration(container, catalog) {
  const openapi = await api("/openapi.json");
  const schemas = openapi.components.schemas;
  const forms = {};
  const boxes = REGISTRATIONS.map((r) => {
    const schema = { ...schemas[r.schema], $defs: schemas };
    const form = new SchemaForm({
      id: `reg-${r.key}`, schema, catalog, primary: [],
      actions: [{ id: `register-${r.key}`, label: `Register ${r.key}`, primary: true,
        send: (body) => api(r.path, { method: "POST", body }),
        done: async (out, f) => { f.say(`Registered ${r.key} ${out.id}`); await catalog.load(); } }],
    });
    forms[r.key] = form;
    return el("div", { class: "reg" }, el("h3", {}, r.title), form.node);
  });
  container.replaceChildren(el("div", { class: "reg-grid" }, boxes));
  return forms;
}
