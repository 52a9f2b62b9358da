"""Peel strength from a force curve (JIS C 6481 / IPC-TM-650 2.4.9 practice).

The steady-region rule: of the travel the curve covers (first to last point), the first
``start_fraction`` (default 20 %) and the last ``end_fraction`` (default 10 %) are
excluded; every point in between counts. Why this rule rather than a plateau detector:
it depends only on *where* a point is, never on *what* it reads, so a start transient
(rise and overshoot) or an end transient (the strip running out) of any size cannot move
the result as long as it stays within its margin, and stick-slip noise cannot fool it
into starting the plateau early or late. On a 50 mm peel the margins are 10 mm and 5 mm,
well past the tester's ~5 mm start transient and 3 mm end fall. Both fractions are
parameters (``SteadyRegionRule``).

peel_strength_n_per_cm = mean force in the steady region [N] / (width_mm / 10).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


class PeelCalculationError(ValueError):
    """A curve that gives no peel strength (too short, no steady region, bad width)."""


@dataclass(frozen=True)
class SteadyRegionRule:
    """Which part of the travel counts: all but the first and last fractions."""

    start_fraction: float = 0.20
    end_fraction: float = 0.10
    min_points: int = 10

    def __post_init__(self) -> None:
        if not (0.0 <= self.start_fraction < 1.0 and 0.0 <= self.end_fraction < 1.0):
            raise PeelCalculationError("steady-region fractions must be in [0, 1)")
        if self.start_fraction + self.end_fraction >= 1.0:
            raise PeelCalculationError(
                "steady-region fractions exclude the whole travel "
                f"({self.start_fraction:g} + {self.end_fraction:g} ≥ 1)"
            )
        if self.min_points < 1:
            raise PeelCalculationError("min_points must be ≥ 1")

    def bounds_mm(self, first_mm: float, last_mm: float) -> tuple[float, float]:
        """The steady region [start, end] of a curve covering ``first_mm``…``last_mm``."""
        travel = last_mm - first_mm
        return first_mm + travel * self.start_fraction, last_mm - travel * self.end_fraction

    def as_dict(self) -> dict[str, Any]:
        """The rule as stored next to a result."""
        return asdict(self)


@dataclass(frozen=True)
class PeelResult:
    """The verdict on one specimen: peel strength and the statistics behind it."""

    peel_strength_n_per_cm: float
    mean_force_n: float
    min_force_n: float
    max_force_n: float
    sd_force_n: float
    sd_n_per_cm: float
    n_samples: int
    n_points: int
    garbled_lines: int
    steady_start_mm: float
    steady_end_mm: float
    width_mm: float

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (MQTT payload, JSON output)."""
        return asdict(self)


def steady_region(
    mm: Sequence[float], rule: SteadyRegionRule = SteadyRegionRule()
) -> tuple[float, float]:
    """The steady region of a curve, as travel bounds in mm."""
    if len(mm) == 0:
        raise PeelCalculationError("no points captured")
    return rule.bounds_mm(min(mm), max(mm))


def peel_result(
    mm: Sequence[float],
    force_n: Sequence[float],
    width_mm: float,
    rule: SteadyRegionRule = SteadyRegionRule(),
    garbled_lines: int = 0,
) -> PeelResult:
    """Peel strength and statistics of the steady region of one curve."""
    if len(mm) != len(force_n):
        raise PeelCalculationError(f"{len(mm)} positions but {len(force_n)} forces")
    if not (width_mm > 0 and math.isfinite(width_mm)):
        raise PeelCalculationError(f"strip width must be > 0 mm, got {width_mm}")
    start_mm, end_mm = steady_region(mm, rule)
    steady = [f for x, f in zip(mm, force_n, strict=True) if start_mm <= x <= end_mm]
    if len(steady) < rule.min_points:
        raise PeelCalculationError(
            f"only {len(steady)} points in the steady region {start_mm:.2f}–{end_mm:.2f} mm "
            f"(at least {rule.min_points} needed): peel too short"
        )
    n = len(steady)
    mean = math.fsum(steady) / n
    deviations = [f - mean for f in steady]
    var = math.fsum(map(operator.mul, deviations, deviations)) / (n - 1) if n > 1 else 0.0
    sd = math.sqrt(var)
    width_cm = width_mm / 10.0
    return PeelResult(
        peel_strength_n_per_cm=mean / width_cm,
        mean_force_n=mean,
        min_force_n=min(steady),
        max_force_n=max(steady),
        sd_force_n=sd,
        sd_n_per_cm=sd / width_cm,
        n_samples=n,
        n_points=len(mm),
        garbled_lines=garbled_lines,
        steady_start_mm=start_mm,
        steady_end_mm=end_mm,
        width_mm=width_mm,
    )


@dataclass(frozen=True)
class ConditionSummary:
    """Several specimens of one sample and aging state: mean ± sd of their peel strengths."""

    sample_id: str | None
    aging_hours: float
    n_specimens: int
    mean_n_per_cm: float
    sd_n_per_cm: float


def summarize(
    results: Sequence[tuple[str | None, float, float]],
) -> list[ConditionSummary]:
    """Group (sample id, aging hours, N/cm) by sample and aging state; mean ± sd of each."""
    groups: dict[tuple[str | None, float], list[float]] = {}
    for sample_id, aging_hours, value in results:
        groups.setdefault((sample_id, round(aging_hours, 3)), []).append(value)
    out = []
    for (sample_id, aging_hours), values in sorted(
        groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])
    ):
        n = len(values)
        mean = math.fsum(values) / n
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        out.append(ConditionSummary(sample_id, aging_hours, n, mean, sd))
    return out
