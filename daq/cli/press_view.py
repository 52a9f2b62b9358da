"""What ``daq press start`` shows: a progress bar fed by the station's live stream, and
the summary of the stored run (phases, dwell achieved, peaks), and its CSV export."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from pydantic import BaseModel, ConfigDict
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from daq.cli.output import console, err_console, table
from daq.client import StoredReading, StreamEvent, StreamMessage, StreamReading
from daq.clock import iso
from daq.recipes import PressRecipe

#: Channels of a press reading, as the CSV columns name them.
CSV_CHANNELS = (("temp_top", "temp_top_degC"), ("temp_bottom", "temp_bottom_degC"),
                ("pressure", "pressure_MPa"), ("ram", "ram_mm"))


class PhaseSpan(BaseModel):
    """One phase of the cycle as the summary has it."""

    model_config = ConfigDict(extra="ignore")

    phase: str
    start: str
    start_ts: float
    duration_min: float | None = None


class PressSummary(BaseModel):
    """The stored summary of a press cycle (the fields the operator's table shows)."""

    model_config = ConfigDict(extra="ignore")

    phases: list[PhaseSpan]
    readings: int
    dwell_target_min: float
    dwell_achieved_min: float
    dwell_paused_min: float
    dwell_mean_temp_c: float | None = None
    dwell_mean_pressure_mpa: float | None = None
    temperature_window_c: tuple[float, float]
    pressure_window_mpa: tuple[float, float]
    peak_temp_top_c: float | None = None
    peak_temp_bottom_c: float | None = None
    peak_pressure_mpa: float | None = None
    safe_confirmed: bool | None = None


class CycleProgress:
    """A rich progress bar of one cycle: phase, dwell counted so far, live values.

    The dwell shown counts an interval between two readings of the DWELL phase when both
    are inside the recipe's tolerance (the cycle's own rule); the stored summary, not
    this bar, is the record."""

    def __init__(self, recipe: PressRecipe) -> None:
        self.recipe = recipe
        self.phase = "PRECHECK"
        self.dwell_s = 0.0
        self._previous: StreamReading | None = None
        self._values = ""
        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]:<8}"),
            BarColumn(bar_width=30),
            TextColumn("dwell {task.completed:5.1f}/{task.total:g} min"),
            TextColumn("{task.fields[values]}"),
            TimeElapsedColumn(),
            console=err_console, transient=False,
        )
        self._bar: TaskID | None = None

    def __enter__(self) -> CycleProgress:
        self._progress.start()
        self._bar = self._progress.add_task("cycle", total=self.recipe.dwell_min,
                                            phase=self.phase, values="")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def _in_tolerance(self, reading: StreamReading) -> bool:
        r = self.recipe
        v = reading.values
        temps = [v[ch].v for ch in ("temp_top", "temp_bottom") if ch in v]
        pressure = v["pressure"].v if "pressure" in v else None
        return (len(temps) == 2 and pressure is not None
                and all(t is not None and abs(t - r.temperature_c) <= r.temperature_tolerance_c
                        for t in temps)
                and abs(pressure - r.pressure_mpa) <= r.pressure_tolerance_mpa)

    def update(self, message: StreamMessage) -> None:
        """Move the bar on a transition or a reading."""
        values = None
        if isinstance(message, StreamEvent) and message.kind == "transition":
            self.phase = str(message.data.get("to", self.phase))
        elif isinstance(message, StreamReading):
            previous, self._previous = self._previous, message
            if (self.phase == "DWELL" and previous is not None
                    and self._in_tolerance(previous) and self._in_tolerance(message)):
                self.dwell_s += max(0.0, message.ts - previous.ts)
            v = message.values
            if all(ch in v for ch in ("temp_top", "temp_bottom", "pressure")):
                values = (f"top {v['temp_top'].v:6.1f} °C  bottom {v['temp_bottom'].v:6.1f} °C  "
                          f"{v['pressure'].v:5.2f} MPa")
        if values is not None:
            self._values = values
        if self._bar is not None:
            self._progress.update(self._bar, completed=min(self.recipe.dwell_min,
                                                           self.dwell_s / 60.0),
                                  phase=self.phase, values=self._values)


def print_summary(run_id: str, status: str, reason: str | None, s: PressSummary) -> None:
    """The operator's summary: phases with times, peak values, dwell achieved."""
    phases = [(p.phase, p.start[11:19], p.duration_min) for p in s.phases]
    console.print(table(f"Press cycle {run_id}", ["phase", "start (UTC)", "duration (min)"],
                        phases))
    window_t, window_p = s.temperature_window_c, s.pressure_window_mpa
    rows: list[tuple[str, object]] = [
        ("dwell achieved (min)", f"{s.dwell_achieved_min:.2f} of {s.dwell_target_min:g}"),
        ("dwell paused (min)", f"{s.dwell_paused_min:.2f}"),
        ("mean temperature in dwell (°C)",
         f"{s.dwell_mean_temp_c} (window {window_t[0]:g}–{window_t[1]:g})"),
        ("mean pressure in dwell (MPa)",
         f"{s.dwell_mean_pressure_mpa} (window {window_p[0]:g}–{window_p[1]:g})"),
        ("peak platen top / bottom (°C)", f"{s.peak_temp_top_c} / {s.peak_temp_bottom_c}"),
        ("peak pressure (MPa)", s.peak_pressure_mpa),
        ("readings", s.readings),
    ]
    console.print(table("Summary", ["quantity", "value"], rows))
    style = "green" if status == "DONE" else "red"
    line = f"[bold {style}]{status}[/]"
    if reason:
        line += f": {reason}"
    if s.safe_confirmed is False:
        line += "\n[bold red]the press could not be confirmed safe: check it now[/]"
    console.print(line)


def write_csv(out: TextIO, run_id: str, readings: Sequence[StoredReading],
              phases: Sequence[PhaseSpan]) -> int:
    """Every stored reading of the run as CSV, one row per poll, with its phase."""
    spans = [(p.start_ts, p.phase) for p in phases]
    polls: dict[tuple[float, str], dict[str, float | None]] = {}
    for r in readings:
        polls.setdefault((r.ts, r.instrument), {})[r.channel] = r.value
    writer = csv.writer(out)
    writer.writerow(["time", "ts", "run_id", "phase", *(col for _, col in CSV_CHANNELS)])
    rows = 0
    for (ts, _), values in sorted(polls.items()):
        phase = next((name for start, name in reversed(spans) if start <= ts), "")
        writer.writerow([iso(ts), f"{ts:.3f}", run_id, phase,
                         *(values.get(ch) for ch, _ in CSV_CHANNELS)])
        rows += 1
    return rows
