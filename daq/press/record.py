"""The record a press cycle keeps while it runs: phases with their times, peaks, and the
dwell achieved inside tolerance; it becomes the run's summary at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from daq.clock import iso
from daq.messages import Reading
from daq.recipes import PressRecipe
from daq.station.outcome import Outcome

__all__ = ["CycleRecord", "Outcome", "Phase", "PhaseSpan"]


class Phase(StrEnum):
    """The states of a press cycle (``runs.phase``)."""

    PRECHECK = "PRECHECK"
    HEAT = "HEAT"
    PRESS = "PRESS"
    DWELL = "DWELL"
    COOL = "COOL"
    RELEASE = "RELEASE"
    DONE = "DONE"
    SAFE = "SAFE"


@dataclass
class PhaseSpan:
    """One phase: when it began and ended (simulated epoch seconds)."""

    phase: Phase
    start_ts: float
    end_ts: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary's view of the phase."""
        duration = None if self.end_ts is None else self.end_ts - self.start_ts
        return {
            "phase": str(self.phase),
            "start_ts": self.start_ts,
            "start": iso(self.start_ts),
            "end_ts": self.end_ts,
            "duration_min": None if duration is None else round(duration / 60.0, 3),
        }


class CycleRecord:
    """Phases, peaks and the dwell of one press cycle."""

    def __init__(self, recipe: PressRecipe) -> None:
        self.recipe = recipe
        self.phases: list[PhaseSpan] = []
        self.readings = 0
        self.peak_temp_top_c = -math.inf
        self.peak_temp_bottom_c = -math.inf
        self.peak_pressure_mpa = -math.inf
        self.dwell_s = 0.0
        self.dwell_paused_s = 0.0
        self._dwell_temp_integral = 0.0
        self._dwell_pressure_integral = 0.0
        self.dwell_min_temp_c = math.inf
        self.dwell_max_temp_c = -math.inf
        self.dwell_min_pressure_mpa = math.inf
        self.dwell_max_pressure_mpa = -math.inf
        self.safe_confirmed: bool | None = None

    @property
    def phase(self) -> Phase:
        """The phase entered last."""
        return self.phases[-1].phase if self.phases else Phase.PRECHECK

    def enter(self, phase: Phase, ts: float) -> str | None:
        """Close the current phase at ``ts`` and open ``phase``; returns the previous one."""
        previous = None
        if self.phases:
            self.phases[-1].end_ts = ts
            previous = str(self.phases[-1].phase)
        end = ts if phase in (Phase.DONE, Phase.SAFE) else None
        self.phases.append(PhaseSpan(phase, ts, end))
        return previous

    def observe(self, reading: Reading) -> None:
        """Track peaks over every reading of the run."""
        self.readings += 1
        values = reading.values
        self.peak_temp_top_c = max(self.peak_temp_top_c, values["temp_top"].v)
        self.peak_temp_bottom_c = max(self.peak_temp_bottom_c, values["temp_bottom"].v)
        self.peak_pressure_mpa = max(self.peak_pressure_mpa, values["pressure"].v)

    def add_dwell_interval(self, start: Reading, end: Reading, in_tolerance: bool) -> None:
        """Count the interval between two consecutive readings as dwell or as paused time."""
        dt = max(0.0, end.ts - start.ts)
        if not in_tolerance:
            self.dwell_paused_s += dt
            return
        self.dwell_s += dt
        # Trapezoids: the mean over the dwell is weighted by time, not by reading count.
        self._dwell_temp_integral += (_mean_platen(start) + _mean_platen(end)) / 2.0 * dt
        self._dwell_pressure_integral += (
            (start.values["pressure"].v + end.values["pressure"].v) / 2.0 * dt
        )
        for r in (start, end):
            for ch in ("temp_top", "temp_bottom"):
                self.dwell_min_temp_c = min(self.dwell_min_temp_c, r.values[ch].v)
                self.dwell_max_temp_c = max(self.dwell_max_temp_c, r.values[ch].v)
            p = r.values["pressure"].v
            self.dwell_min_pressure_mpa = min(self.dwell_min_pressure_mpa, p)
            self.dwell_max_pressure_mpa = max(self.dwell_max_pressure_mpa, p)

    def summary(self, outcome: Outcome, reason: str | None) -> dict[str, Any]:
        """The run's summary (JSON-ready)."""
        r = self.recipe
        dwelling = self.dwell_s > 0
        return {
            "outcome": str(outcome),
            "reason": reason,
            "recipe": r.model_dump(),
            "phases": [span.as_dict() for span in self.phases],
            "readings": self.readings,
            "peak_temp_top_c": _finite(self.peak_temp_top_c),
            "peak_temp_bottom_c": _finite(self.peak_temp_bottom_c),
            "peak_pressure_mpa": _finite(self.peak_pressure_mpa),
            "dwell_target_min": r.dwell_min,
            "dwell_achieved_min": round(self.dwell_s / 60.0, 3),
            "dwell_paused_min": round(self.dwell_paused_s / 60.0, 3),
            "dwell_complete": self.dwell_s >= r.dwell_min * 60.0,
            "dwell_mean_temp_c": (
                round(self._dwell_temp_integral / self.dwell_s, 2) if dwelling else None
            ),
            "dwell_mean_pressure_mpa": (
                round(self._dwell_pressure_integral / self.dwell_s, 3) if dwelling else None
            ),
            "dwell_temp_range_c": (
                [self.dwell_min_temp_c, self.dwell_max_temp_c] if dwelling else None
            ),
            "dwell_pressure_range_mpa": (
                [self.dwell_min_pressure_mpa, self.dwell_max_pressure_mpa] if dwelling else None
            ),
            "temperature_window_c": [
                r.temperature_c - r.temperature_tolerance_c,
                r.temperature_c + r.temperature_tolerance_c,
            ],
            "pressure_window_mpa": [
                r.pressure_mpa - r.pressure_tolerance_mpa,
                r.pressure_mpa + r.pressure_tolerance_mpa,
            ],
            "safe_confirmed": self.safe_confirmed,
        }


def _mean_platen(reading: Reading) -> float:
    return (reading.values["temp_top"].v + reading.values["temp_bottom"].v) / 2.0


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
