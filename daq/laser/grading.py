"""Grading a drilled job O / Δ / X from the inspection of its holes (patent [0056]).

The rule, per job, over the inspected holes:

* **X** (not opened): fewer than 95 % of the holes go through (bottom diameter > 0).
* **O** (open, good taper): at least 95 % open, fewer than 5 % with dross, and the median
  taper (bottom/top diameter of the open holes) at least 0.6.
* **Δ** (open, dross): at least 95 % open but not O — 5 % or more keep dross, or the taper
  is poor.

Why these numbers: a via that does not open is a dead connection, so "open" must hold
for practically every hole; 95 % (rather than 100 %) keeps one SEM misread or one stray
hole in a sample of hundreds from flipping a whole job, while any systematic failure
(a film too thick, power too low) fails far more than 5 % of holes. The same 5 % bound
separates dross that is an accident from dross that is the process. A taper of 0.6 is
the usual lower limit for plating a blind via reliably; good holes here are 0.7–0.9.

Which holes are inspected: all of them up to :data:`MAX_INSPECTED_HOLES`; above that a
systematic sample (every k-th hole from the first) of at most that many, which covers
the whole job evenly in time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from drivers.uv_laser import HoleResult

Grade = Literal["O", "Δ", "X"]

MIN_OPEN_SHARE = 0.95
MAX_DROSS_SHARE = 0.05
MIN_GOOD_TAPER = 0.6
MAX_INSPECTED_HOLES = 1000

RULE = (
    f"X if < {MIN_OPEN_SHARE:.0%} of inspected holes open; "
    f"O if open and < {MAX_DROSS_SHARE:.0%} with dross and median taper ≥ {MIN_GOOD_TAPER}; "
    "Δ otherwise"
)


def inspection_indices(holes_done: int, max_inspected: int = MAX_INSPECTED_HOLES) -> range:
    """Indices of the holes to inspect: all, or every k-th so that at most ``max_inspected``."""
    if holes_done <= 0:
        return range(0)
    step = max(1, math.ceil(holes_done / max_inspected))
    return range(0, holes_done, step)


def hole_grade(hole: HoleResult) -> Grade:
    """One hole: X not opened, Δ open with dross, O open and clean."""
    if not hole.opened:
        return "X"
    return "Δ" if hole.dross else "O"


@dataclass(frozen=True)
class JobGrade:
    """The grade of a job and the figures it rests on."""

    grade: Grade
    holes_inspected: int
    holes_open: int
    holes_with_dross: int
    open_share: float
    dross_share: float
    median_taper: float | None

    def as_dict(self) -> dict[str, object]:
        """For the run summary and the MQTT result event."""
        return {
            "grade": self.grade,
            "holes_inspected": self.holes_inspected,
            "holes_open": self.holes_open,
            "holes_with_dross": self.holes_with_dross,
            "open_share": round(self.open_share, 4),
            "dross_share": round(self.dross_share, 4),
            "median_taper": None if self.median_taper is None else round(self.median_taper, 4),
            "rule": RULE,
        }


def grade_job(holes: Sequence[HoleResult]) -> JobGrade:
    """Grade a job from its inspected holes (see the module docstring for the rule)."""
    if not holes:
        raise ValueError("no holes inspected: a job that drilled nothing cannot be graded")
    n = len(holes)
    opened = [h for h in holes if h.opened]
    dross = sum(1 for h in opened if h.dross)
    open_share = len(opened) / n
    dross_share = dross / n
    taper = statistics.median(h.taper for h in opened) if opened else None
    grade: Grade
    if open_share < MIN_OPEN_SHARE:
        grade = "X"
    elif dross_share < MAX_DROSS_SHARE and taper is not None and taper >= MIN_GOOD_TAPER:
        grade = "O"
    else:
        grade = "Δ"
    return JobGrade(grade, n, len(opened), dross, open_share, dross_share, taper)
