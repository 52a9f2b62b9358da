"""Write the campaign report: ``index.html`` with its PNG figures beside it, and CSVs.

Every number in the reproduced table links to where it came from: a mean links to its
condition's list of specimens, each specimen's value to the peel run's section
(``#run-<run id>``) and to the specimen's section (``#specimen-<id>``); each run section
gives its id as ``daq runs show`` knows it. The patent's values come from the campaign
file and are only set beside the measurements.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from daq.clock import iso
from daq.report import figures
from daq.report.data import TOLERANCE_N_PER_CM, Condition, ReportData, RunInfo, Table1Row

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;
text-align:right}th{background:#eef}td.l,th.l{text-align:left}.ok{background:#e4f7e4}
.bad{background:#fbe0e0}.nofilm{color:#666;font-style:italic}section{margin:1.5em 0}
img{max-width:100%;border:1px solid #ddd}code{background:#f4f4f4;padding:0 3px}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _n(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{0.0 if abs(value) < 0.005 else value:+.2f}"  # never "-0.00"


def _anchor(kind: str, ident: str) -> str:
    return f"{kind}-{ident}"


def _cond_id(row: Table1Row, aged: bool) -> str:
    return f"peel-{row.lot}-{'aged' if aged else 'as-made'}"


def _verdict(diff: float | None) -> str:
    if diff is None:
        return ""
    return "ok" if abs(diff) <= TOLERANCE_N_PER_CM else "bad"


def _table_html(data: ReportData) -> str:
    head = ("<tr><th class=l>sample</th><th class=l>lot</th><th>adhesive µm</th>"
            "<th>peel as made N/cm</th><th>patent</th><th>diff</th>"
            "<th>after 150 °C × 1000 h</th><th>patent</th><th>diff</th>"
            "<th>laser grade</th><th>patent</th></tr>")
    body = []
    for r in data.table:
        cells = [f"<td class=l>{_e(r.label)}</td>",
                 f"<td class=l><a href='#{_anchor('sample', r.lot)}'>{_e(r.lot)}</a></td>"]
        if r.no_film:
            cells.append(f"<td>{_n(r.adhesive_thickness_um, 0)}</td>")
            cells += ["<td class=nofilm data-col=as_made>no film</td>",
                      f"<td class=nofilm>{'no film' if r.expected_no_film else '?'}</td>",
                      "<td>—</td><td class=nofilm data-col=aged>no film</td>",
                      "<td>—</td><td>—</td><td class=nofilm data-col=grade>—</td><td>—</td>"]
        else:
            cells.append(f"<td>{_n(r.adhesive_thickness_um, 0)}</td>")
            for cond, expected, diff, aged in ((r.as_made, r.expected_as_made, r.diff_as_made,
                                                False),
                                               (r.aged, r.expected_aged, r.diff_aged, True)):
                col = "aged" if aged else "as_made"
                cells.append(f"<td data-col={col}><a href='#{_cond_id(r, aged)}'>"
                             f"{_n(cond.mean)}</a></td>")
                cells.append(f"<td>{_n(expected, 1)}</td>")
                cells.append(f"<td class='{_verdict(diff)}'>{_signed(diff)}</td>")
            match = r.grade_matches
            cls = "" if match is None else ("ok" if match else "bad")
            grade = (f"<a href='#{_anchor('run', r.laser_run_id)}'>{_e(r.laser_grade or '—')}"
                     "</a>" if r.laser_run_id else "—")
            cells.append(f"<td class='{cls}' data-col=grade>{grade}</td>")
            cells.append(f"<td>{_e(r.expected_grade or '—')}</td>")
        body.append(f"<tr id='row-{_e(r.lot)}' data-lot='{_e(r.lot)}'>{''.join(cells)}</tr>")
    return f"<table id=table1>{head}{''.join(body)}</table>"


def _run_link(run_id: str | None) -> str:
    return f"<a href='#{_anchor('run', run_id)}'>{_e(run_id)}</a>" if run_id else "—"


def _condition_html(row: Table1Row, cond: Condition, aged: bool,
                    aging_run_id: str | None) -> str:
    """The specimens behind a mean, each traced: sample → press run → aging run → peel."""
    title = "after aging" if aged else "as made"
    items = []
    for p in cond.peels:
        items.append(
            f"<tr id='{_anchor('specimen', p.specimen_id)}'><td class=l>{_e(p.specimen_id)}</td>"
            f"<td class=l>{_run_link(row.press_run_id)}</td>"
            f"<td class=l>{_run_link(aging_run_id if aged else None)}</td>"
            f"<td>{_n(p.aging_hours, 1)}</td><td class=l>{_run_link(p.run_id)}</td>"
            f"<td>{_n(p.peel_strength_n_per_cm)}</td></tr>")
    return (f"<h4 id='{_cond_id(row, aged)}'>{_e(row.label)} {title}: mean "
            f"{_n(cond.mean)} ± {_n(cond.sd)} N/cm (n = {len(cond.values)})</h4>"
            "<table><tr><th class=l>specimen</th><th class=l>laminate (press run)</th>"
            "<th class=l>aging run</th><th>aging h</th><th class=l>peel run</th>"
            f"<th>N/cm</th></tr>{''.join(items)}</table>")


def _run_html(run: RunInfo, image: str | None) -> str:
    rows = [("kind", run.kind), ("status", run.status), ("instrument", run.instrument),
            ("sample", run.sample_id or "—"), ("specimen", run.specimen_id or "—"),
            ("started", iso(run.started_ts)),
            ("ended", iso(run.ended_ts) if run.ended_ts else "—"),
            ("readings stored", run.readings_stored), ("reason", run.reason or "—")]
    table = "".join(f"<tr><th class=l>{_e(k)}</th><td class=l>{_e(v)}</td></tr>" for k, v in rows)
    img = f"<img src='{_e(image)}' alt='trace of {_e(run.run_id)}'>" if image else ""
    return (f"<section id='{_anchor('run', run.run_id)}'><h4>run {_e(run.run_id)}</h4>"
            f"<p><code>daq runs show {_e(run.run_id)}</code></p><table>{table}</table>{img}"
            "</section>")


def write_report(data: ReportData, out: Path) -> Path:
    """Write ``index.html``, the figures and the CSVs into ``out``; the HTML's path."""
    out.mkdir(parents=True, exist_ok=True)
    write_csvs(data, out)
    parts: list[str] = [
        f"<h1>{_e(data.title)}</h1>",
        f"<p>campaign <b>{_e(data.campaign_id)}</b> — {_e(data.status)}. Patent values from "
        "the campaign file; measured values from the instruments' stored data. "
        f"Peel agreement: within ±{TOLERANCE_N_PER_CM} N/cm (green). CSV: "
        "<a href='table1.csv'>table1.csv</a>, <a href='peel_results.csv'>peel_results.csv</a>,"
        " <a href='laser_jobs.csv'>laser_jobs.csv</a>, "
        "<a href='aging_excursions.csv'>aging_excursions.csv</a>, "
        "<a href='runs.csv'>runs.csv</a></p>",
        "<h2>Table 1 reproduced</h2>", _table_html(data),
    ]
    press_images: dict[str, str] = {}
    for r in data.table:
        if r.press_run_id and r.press_run_id in data.runs:
            press_images[r.press_run_id] = figures.press_trace(data.runs[r.press_run_id], out)
    parts.append("<h2>Samples</h2>")
    for r in data.table:
        parts.append(f"<section id='{_anchor('sample', r.lot)}'><h3>{_e(r.label)} — "
                     f"{_e(r.lot)}</h3><p>{_e(r.material_key)}, adhesive "
                     f"{_n(r.adhesive_thickness_um, 0)} µm. {_e(r.note or '')}</p>")
        if r.no_film:
            parts.append("<p class=nofilm>no film: polyimide insoluble — nothing further "
                         "was made from this sample.</p></section>")
            continue
        if r.press_run_id:
            parts.append(f"<p>laminate pressed by run <a href='#{_anchor('run', r.press_run_id)}'>"
                         f"{_e(r.press_run_id)}</a></p>")
        if r.as_made.peels or r.aged.peels:
            img = figures.peel_curves(r, out)
            parts.append(f"<img src='{_e(img)}' alt='peel curves of {_e(r.lot)}'>")
        aging_id = data.aging.run_id if data.aging else None
        parts.append(_condition_html(r, r.as_made, False, aging_id))
        parts.append(_condition_html(r, r.aged, True, aging_id))
        parts.append("</section>")
    parts.append("<h2>Aging</h2>")
    aging_image = None
    if data.aging is not None:
        a = data.aging
        run = data.runs.get(a.run_id)
        if run is not None:
            aging_image = figures.aging_trace(run, a, out)
        parts.append(
            f"<p>run <a href='#{_anchor('run', a.run_id)}'>{_e(a.run_id)}</a>: "
            f"{a.setpoint_c:g} ± {a.tolerance_c:g} °C, {a.in_tolerance_h:.1f} of "
            f"{a.target_h:g} h in tolerance, {a.out_of_tolerance_h:.2f} h out of tolerance, "
            f"{a.unmonitored_h:.2f} h unmonitored, {len(a.excursions)} excursion(s), "
            f"resumed {a.resumes} time(s).</p>")
        if aging_image:
            parts.append(f"<img src='{_e(aging_image)}' alt='aging trace'>")
        if a.excursions:
            rows = "".join(
                f"<tr><td class=l>{iso(e['start_ts'])}</td><td class=l>"
                f"{iso(e['end_ts']) if e['end_ts'] else 'open'}</td>"
                f"<td>{e['peak_deviation_c']:+.1f}</td><td>{'yes' if e['alarm_raised'] else ''}"
                "</td></tr>" for e in a.excursions)
            parts.append("<table><tr><th class=l>start</th><th class=l>end</th><th>peak °C"
                         f"</th><th>alarm</th></tr>{rows}</table>")
    parts.append("<h2>Laser jobs</h2>")
    if data.laser:
        parts.append(f"<img src='{_e(figures.laser_grades(data.laser, out))}' "
                     "alt='laser grades'>")
        rows = "".join(
            f"<tr><td class=l>{_e(j.sample_id)}</td><td class=l><a href='#"
            f"{_anchor('run', j.run_id)}'>{_e(j.run_id)}</a></td><td>{j.holes_done}/{j.n_holes}"
            f"</td><td>{_pct(j.open_share)}</td><td>{_pct(j.dross_share)}</td>"
            f"<td>{_n(j.median_taper)}</td><td>{_e(j.grade or '—')}</td></tr>"
            for j in data.laser)
        parts.append("<table id=laser><tr><th class=l>sample</th><th class=l>run</th>"
                     "<th>holes</th><th>open</th><th>dross</th><th>median taper</th>"
                     f"<th>grade</th></tr>{rows}</table>")
    parts.append("<h2>Runs</h2>")
    for run in data.runs.values():
        image = press_images.get(run.run_id) or (
            aging_image if data.aging and run.run_id == data.aging.run_id else None)
        parts.append(_run_html(run, image))
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>"
            f"{_e(data.title)}</title><style>{STYLE}</style></head><body>"
            f"{''.join(parts)}</body></html>")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f} %"


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_csvs(data: ReportData, out: Path) -> None:
    """The report's tables as CSV files."""
    table = data.table_json()
    header = [k for k in table[0] if k not in ("as_made_runs", "aged_runs")] if table else []
    _write(out / "table1.csv", [*header, "as_made_runs", "aged_runs"],
           [[row[k] for k in header] + [" ".join(row["as_made_runs"]),
                                         " ".join(row["aged_runs"])] for row in table])
    peels = [[p.sample_id, p.specimen_id, "aged" if p.aged else "as made", p.aging_hours,
              p.peel_strength_n_per_cm, p.status, p.run_id]
             for r in data.table for p in r.as_made.peels + r.aged.peels]
    _write(out / "peel_results.csv", ["sample", "specimen", "condition", "aging_hours",
                                      "peel_strength_n_per_cm", "status", "run_id"], peels)
    _write(out / "laser_jobs.csv", ["sample", "run_id", "holes_done", "n_holes", "open_share",
                                    "dross_share", "median_taper", "grade"],
           [[j.sample_id, j.run_id, j.holes_done, j.n_holes, j.open_share, j.dross_share,
             j.median_taper, j.grade] for j in data.laser])
    exc = data.aging.excursions if data.aging else []
    _write(out / "aging_excursions.csv", ["run_id", "start", "end", "peak_deviation_c",
                                          "alarm_raised"],
           [[data.aging.run_id if data.aging else "", iso(e["start_ts"]),
             iso(e["end_ts"]) if e["end_ts"] else "", e["peak_deviation_c"],
             e["alarm_raised"]] for e in exc])
    _write(out / "runs.csv", ["run_id", "kind", "status", "sample", "specimen", "started",
                              "ended", "readings_stored", "reason"],
           [[r.run_id, r.kind, r.status, r.sample_id, r.specimen_id, iso(r.started_ts),
             iso(r.ended_ts) if r.ended_ts else "", r.readings_stored, r.reason]
            for r in data.runs.values()])
