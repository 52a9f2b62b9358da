// Panels of the other areas (peel tests, aging runs, laser jobs). Each panel appears only
// when its API answers; add an entry to PANELS for a new area.

const PANELS = [
  { title: "Peel tests", path: "/api/peel-tests", columns: ["id", "specimen_label", "sample_id", "aging_hours", "status", "peel_strength_n_per_cm"] },
  { title: "Aging runs", path: "/api/aging-runs", columns: ["id", "oven", "status", "target_h", "in_tolerance_s", "excursion_count"] },
  { title: "Laser jobs", path: "/api/laser/jobs", columns: ["id", "sample_id", "state", "holes_done", "grade"] },
];

export async function mountAreaPanels(container, api) {
  for (const panel of PANELS) {
    let data;
    try { data = await api(`${panel.path}?limit=20`); } catch { continue; }
    const items = Array.isArray(data) ? data : data.items || [];
    const section = document.createElement("section");
    section.className = "card";
    section.id = `panel-${panel.path.split("/").pop()}`;
    const h2 = document.createElement("h2");
    h2.textContent = panel.title;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of panel.columns) head.insertCell().outerHTML = `<th>${c}</th>`;
    const body = table.createTBody();
    for (const item of items) {
      const row = body.insertRow();
      for (const c of panel.columns) {
        const v = item[c];
        row.insertCell().textContent = v === undefined || v === null ? "" : Array.isArray(v) ? v.length : String(v);
      }
    }
    section.append(h2, table);
    container.append(section);
  }
}
