"""What `daq peel` shows: the live force trace (a sparkline of the last seconds, fed by
the station's live stream) and the result table of one stored peel test."""

from __future__ import annotations

from collections import deque
from types import TracebackType

from pydantic import BaseModel, ConfigDict
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from daq.client import StreamMessage, StreamReading

SPARK = "▁▂▃▄▅▆▇█"
TRACE_POINTS = 72
#: The fields of a peel result, in the order ``--json`` prints them.
RESULT_FIELDS = ("peel_strength_n_per_cm", "mean_force_n", "min_force_n", "max_force_n",
                 "sd_force_n", "sd_n_per_cm", "n_samples", "n_points", "garbled_lines",
                 "steady_start_mm", "steady_end_mm", "width_mm")


def sparkline(values: list[float], top: float) -> str:
    """A one-line plot of ``values`` scaled to ``top``."""
    if top <= 0:
        return ""
    last = len(SPARK) - 1
    return "".join(SPARK[max(0, min(last, int(v / top * last + 0.5)))] for v in values)


class Trace:
    """The live force trace: the last seconds of force as a sparkline, and where we are.

    Shown (``with trace:``) on ``console`` while the peel runs, unless ``show`` is off."""

    def __init__(self, specimen_id: str, console: Console, show: bool = True) -> None:
        self.specimen_id = specimen_id
        self.forces: deque[float] = deque(maxlen=TRACE_POINTS)
        self.mm = 0.0
        self.n = 0.0
        self.points = 0
        self.top = 0.0
        self._live = Live(self, console=console, refresh_per_second=12, transient=False)
        self._show = show

    def __enter__(self) -> Trace:
        if self._show:
            self._live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._show:
            self._live.stop()

    def update(self, message: StreamMessage) -> None:
        """Add a point of the force curve."""
        if not isinstance(message, StreamReading):
            return
        force, travel = message.values.get("force"), message.values.get("travel")
        if force is None or travel is None or force.v is None or travel.v is None:
            return
        self.n, self.mm = force.v, travel.v
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


class PeelSummary(BaseModel):
    """The stored summary of a peel test: the specimen's context and, when the curve had
    a steady region, the result."""

    model_config = ConfigDict(extra="ignore")

    specimen_id: str | None = None
    sample_id: str | None = None
    laminate_id: str | None = None
    aging_hours: float | None = None
    n_points: int = 0
    garbled_lines: int = 0
    peel_strength_n_per_cm: float | None = None
    mean_force_n: float = 0.0
    min_force_n: float = 0.0
    max_force_n: float = 0.0
    sd_force_n: float = 0.0
    sd_n_per_cm: float = 0.0
    n_samples: int = 0
    steady_start_mm: float = 0.0
    steady_end_mm: float = 0.0
    width_mm: float = 0.0

    def result(self) -> dict[str, float | int] | None:
        """The result as ``--json`` prints it (``None``: no peel strength)."""
        if self.peel_strength_n_per_cm is None:
            return None
        values: dict[str, float | int | None] = self.model_dump(include=set(RESULT_FIELDS))
        return {k: v for k in RESULT_FIELDS if (v := values[k]) is not None}


def result_table(run_id: str, status: str, reason: str | None, s: PeelSummary) -> Table:
    """The outcome of one peel test as a two-column table."""
    t = Table(title=f"peel test {run_id}", title_justify="left", show_header=False,
              show_edge=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    rows: list[tuple[str, str]] = [
        ("status", status),
        ("specimen", s.specimen_id or "—"),
        ("sample", s.sample_id or "—"),
        ("aging hours", f"{s.aging_hours:g}" if s.aging_hours is not None else "—"),
    ]
    if s.peel_strength_n_per_cm is not None:
        rows += [
            ("peel strength", f"{s.peel_strength_n_per_cm:.2f} N/cm"),
            ("mean force", f"{s.mean_force_n:.3f} N on {s.width_mm:g} mm"),
            ("min / max", f"{s.min_force_n:.3f} / {s.max_force_n:.3f} N"),
            ("sd", f"{s.sd_force_n:.3f} N ({s.sd_n_per_cm:.2f} N/cm)"),
            ("steady region", f"{s.steady_start_mm:.1f}–{s.steady_end_mm:.1f} mm"),
            ("samples", f"{s.n_samples} of {s.n_points}"),
        ]
    rows.append(("garbled lines", str(s.garbled_lines)))
    if reason:
        rows.append(("reason", reason))
    for k, v in rows:
        t.add_row(k, v)
    return t
