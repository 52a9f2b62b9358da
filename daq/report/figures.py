"""The report's figures, drawn with matplotlib (Agg) from stored data into PNG files.

Time axes are simulated hours since the start of the run (what the lab would read).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from daq.report.data import AgingInfo, LaserInfo, RunInfo, Table1Row

DPI = 90
PHASE_COLOURS = {"HEAT": "#fde0c5", "PRESS": "#fcd5e5", "DWELL": "#d4f1d4",
                 "COOL": "#d6e6fa", "RELEASE": "#eeeeee"}


def _save(fig: Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def peel_curves(row: Table1Row, out: Path) -> str:
    """Force vs travel of every specimen of a sample, as made and after aging."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, cond, title in ((axes[0], row.as_made, "as made"),
                            (axes[1], row.aged, "after aging")):
        for p in cond.peels:
            label = f"{p.specimen_id.rsplit('-', 1)[-1]}: " + (
                f"{p.peel_strength_n_per_cm:.2f} N/cm" if p.peel_strength_n_per_cm else "—")
            ax.plot(p.mm, p.force_n, lw=0.7, label=label)
        ax.set_title(f"{row.label} {title}")
        ax.set_xlabel("travel (mm)")
        ax.grid(alpha=0.3)
        if cond.peels:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("force (N) on 3 mm strip")
    return _save(fig, out / f"peel-{row.lot}.png")


def _phases(ax: Axes, run: RunInfo, t0: float, end_ts: float) -> None:
    marks = sorted(run.phases)
    for i, (ts, phase) in enumerate(marks):
        nxt = marks[i + 1][0] if i + 1 < len(marks) else end_ts
        colour = PHASE_COLOURS.get(phase)
        if colour:
            ax.axvspan((ts - t0) / 60, (nxt - t0) / 60, color=colour, alpha=0.6, lw=0)
            ax.text((ts - t0) / 60, 0.98, phase, transform=ax.get_xaxis_transform(),
                    fontsize=6, va="top")


def press_trace(run: RunInfo, out: Path) -> str:
    """Platen temperatures and pressure of one press cycle, phases shaded."""
    fig, ax = plt.subplots(figsize=(9, 3.0))
    t0 = run.started_ts
    end = run.ended_ts or max((xs[-1] for xs, _ in run.trace.channels.values() if xs),
                              default=t0)
    _phases(ax, run, t0, end)
    for channel, colour in (("temp_top", "tab:red"), ("temp_bottom", "tab:orange")):
        xs, ys = run.trace.channels.get(channel, ([], []))
        ax.plot([(x - t0) / 60 for x in xs], ys, color=colour, lw=1, label=channel)
    ax.set_xlabel("simulated minutes since start")
    ax.set_ylabel("platen temperature (°C)")
    ax2 = ax.twinx()
    xs, ys = run.trace.channels.get("pressure", ([], []))
    ax2.plot([(x - t0) / 60 for x in xs], ys, color="tab:blue", lw=1, label="pressure")
    ax2.set_ylabel("pressure (MPa)")
    ax.set_title(f"press cycle {run.run_id} — sample {run.sample_id} — {run.status}")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="center right")
    return _save(fig, out / f"press-{run.run_id}.png")


def aging_trace(run: RunInfo, aging: AgingInfo, out: Path) -> str:
    """Oven temperature over the aging run, the tolerance band and the excursions."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    t0 = run.started_ts
    xs, ys = run.trace.channels.get("pv", ([], []))
    ax.axhspan(aging.setpoint_c - aging.tolerance_c, aging.setpoint_c + aging.tolerance_c,
               color="#d4f1d4", alpha=0.8, label="tolerance band")
    for e in aging.excursions:
        end = e["end_ts"] if e["end_ts"] is not None else (xs[-1] if xs else e["start_ts"])
        ax.axvspan((e["start_ts"] - t0) / 3600, (end - t0) / 3600, color="#f8b4b4", alpha=0.7)
    ax.plot([(x - t0) / 3600 for x in xs], ys, color="tab:red", lw=0.8, label="oven PV")
    ax.set_xlabel("simulated hours since start")
    ax.set_ylabel("oven temperature (°C)")
    ax.set_title(f"aging run {run.run_id}: {aging.in_tolerance_h:.1f} h in tolerance, "
                 f"{len(aging.excursions)} excursion(s) (red)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, out / f"aging-{run.run_id}.png")


def laser_grades(jobs: list[LaserInfo], out: Path) -> str:
    """Share of inspected holes open and with dross, per sample, with the grade."""
    fig, ax = plt.subplots(figsize=(9, 3.0))
    names = [j.sample_id for j in jobs]
    x = range(len(jobs))
    ax.bar([i - 0.2 for i in x], [100 * (j.open_share or 0) for j in jobs], width=0.4,
           label="holes open %", color="tab:green")
    ax.bar([i + 0.2 for i in x], [100 * (j.dross_share or 0) for j in jobs], width=0.4,
           label="with dross %", color="tab:brown")
    for i, j in enumerate(jobs):
        ax.text(i, 103, j.grade or "—", ha="center", fontsize=11, fontweight="bold")
    ax.set_xticks(list(x), names, rotation=20, fontsize=7)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% of inspected holes")
    ax.set_title("laser jobs: inspection and grade (O / Δ / X)")
    ax.legend(fontsize=7, loc="center right")
    return _save(fig, out / "laser-grades.png")
