"""What `daq peel` shows: the live force trace (a sparkline of the last seconds) and the
result table of one peel test."""

from __future__ import annotations

from collections import deque

from rich.console import Group
from rich.table import Table
from rich.text import Text

from daq.messages import Reading
from daq.peel.store import SpecimenContext
from daq.procedures.peel_test import PeelOutcome

SPARK = "▁▂▃▄▅▆▇█"
TRACE_POINTS = 72


def sparkline(values: list[float], top: float) -> str:
    """A one-line plot of ``values`` scaled to ``top``."""
    if top <= 0:
        return ""
    last = len(SPARK) - 1
    return "".join(SPARK[max(0, min(last, int(v / top * last + 0.5)))] for v in values)


class Trace:
    """The live force trace: the last seconds of force as a sparkline, and where we are."""

    def __init__(self, specimen_id: str) -> None:
        self.specimen_id = specimen_id
        self.forces: deque[float] = deque(maxlen=TRACE_POINTS)
        self.mm = 0.0
        self.n = 0.0
        self.points = 0
        self.top = 0.0

    def add(self, reading: Reading) -> None:
        self.n = reading.values["force"].v
        self.mm = reading.values["travel"].v
        self.forces.append(self.n)
        self.points += 1
        self.top = max(self.top, self.n)

    def __rich__(self) -> Group:
        recent = list(self.forces)  # live readings come at 10 Hz: the last ~7 s
        return Group(
            Text(f"peel {self.specimen_id}: {self.mm:6.2f} mm  {self.n:6.3f} N  "
                 f"({self.points} live readings)", style="bold"),
            Text(sparkline(recent, self.top * 1.05), style="cyan"),
        )


def result_table(outcome: PeelOutcome, context: SpecimenContext | None) -> Table:
    """The outcome of one peel test as a two-column table."""
    t = Table(title=f"peel test {outcome.run_id}", title_justify="left", show_header=False,
              show_edge=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    r = outcome.result
    rows: list[tuple[str, str]] = [
        ("status", outcome.status),
        ("specimen", context.specimen_id if context else "—"),
        ("sample", context.sample_id if context else "—"),
        ("aging hours", f"{context.aging_hours:g}" if context else "—"),
    ]
    if r is not None:
        rows += [
            ("peel strength", f"{r.peel_strength_n_per_cm:.2f} N/cm"),
            ("mean force", f"{r.mean_force_n:.3f} N on {r.width_mm:g} mm"),
            ("min / max", f"{r.min_force_n:.3f} / {r.max_force_n:.3f} N"),
            ("sd", f"{r.sd_force_n:.3f} N ({r.sd_n_per_cm:.2f} N/cm)"),
            ("steady region", f"{r.steady_start_mm:.1f}–{r.steady_end_mm:.1f} mm"),
            ("samples", f"{r.n_samples} of {r.n_points}"),
        ]
    rows.append(("garbled lines", str(outcome.garbled_lines)))
    if outcome.reason:
        rows.append(("reason", outcome.reason))
    for k, v in rows:
        t.add_row(k, v)
    return t
