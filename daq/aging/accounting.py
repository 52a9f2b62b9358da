"""Hour accounting of an aging run: in tolerance, out of tolerance, unmonitored, and the
excursions out of the tolerance band.

The accountant is fed the oven's log rows (simulated epoch seconds). A row at ``ts``
stands for the interval since the previous accepted row, ``(last_ts, ts]``:

* in tolerance when ``|pv − setpoint| ≤ tolerance``, out of tolerance otherwise;
* unmonitored when the row has no temperature (sensor fault), or when the interval is
  longer than ``max_gap_s`` (rows missing from the log: a hole is never filled in);
* a row whose time is not after the last accepted one is out of order: it is rejected
  and counted, never used (the interval it would have covered stays a gap).

So ``in + out + unmonitored`` equals ``accounted_until − started`` exactly, always.

An excursion opens with the first out-of-tolerance row and closes when the temperature
has been back in tolerance for ``merge_s`` (noise at the band edge does not split one
excursion into many); its end is the time of its last out-of-tolerance row. The peak is
the largest deviation (signed, °C). When an excursion has lasted ``alarm_after_s``, the
accountant reports it once (:attr:`Outcome.alarm_due`).

The run completes when the in-tolerance time reaches the target; the completing interval
is split so the run ends exactly at the target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Excursion:
    """One period out of the tolerance band."""

    start_ts: float
    last_out_ts: float
    peak_deviation_c: float
    peak_pv_c: float
    end_ts: float | None = None
    alarm_raised: bool = False
    db_id: int | None = None

    @property
    def duration_s(self) -> float:
        """Start to end (or to the last out-of-tolerance row while it is open)."""
        return (self.end_ts if self.end_ts is not None else self.last_out_ts) - self.start_ts


@dataclass(frozen=True)
class AgingPlan:
    """What an aging run holds to: setpoint, band, target and the accounting rules."""

    setpoint_c: float = 150.0
    tolerance_c: float = 3.0
    target_h: float = 1000.0
    pullouts_h: tuple[float, ...] = (250.0, 500.0, 1000.0)
    #: An interval between log rows longer than this is a hole (the log has a row a minute).
    max_gap_s: float = 150.0
    #: An excursion longer than this raises an alarm (once).
    alarm_after_s: float = 30 * 60.0
    #: Back in tolerance this long before an excursion counts as over.
    merge_s: float = 10 * 60.0

    def __post_init__(self) -> None:
        if not 0 < self.tolerance_c <= 50:
            raise ValueError(f"tolerance {self.tolerance_c} °C must be in (0, 50]")
        if not 0 < self.target_h <= 100_000:
            raise ValueError(f"target {self.target_h} h must be in (0, 100000]")
        if any(not 0 < p <= self.target_h for p in self.pullouts_h):
            raise ValueError(
                f"pull-outs {list(self.pullouts_h)} h must lie in (0, {self.target_h:g}] h"
            )
        if self.max_gap_s <= 0 or self.alarm_after_s <= 0 or self.merge_s < 0:
            raise ValueError("max_gap_s and alarm_after_s must be > 0, merge_s ≥ 0")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pullouts_h"] = list(self.pullouts_h)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgingPlan:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "pullouts_h" in known:
            known["pullouts_h"] = tuple(float(p) for p in known["pullouts_h"])
        return cls(**known)


@dataclass
class Outcome:
    """What changed when rows were fed: for the runner to persist and announce."""

    opened: list[Excursion] = field(default_factory=list)
    closed: list[Excursion] = field(default_factory=list)
    alarm_due: list[Excursion] = field(default_factory=list)
    pullouts_due: list[float] = field(default_factory=list)
    completed: bool = False
    rows_used: int = 0
    rows_out_of_order: int = 0

    @property
    def significant(self) -> bool:
        """True when something happened that must be persisted at once."""
        return bool(self.opened or self.closed or self.alarm_due or self.pullouts_due
                    or self.completed)


@dataclass
class Accountant:
    """Running totals of one aging run; its fields are what a checkpoint stores."""

    plan: AgingPlan
    started_ts: float
    accounted_until_ts: float = 0.0
    in_tolerance_s: float = 0.0
    out_of_tolerance_s: float = 0.0
    unmonitored_s: float = 0.0
    rows_out_of_order: int = 0
    last_pv_c: float | None = None
    pullouts_announced: list[float] = field(default_factory=list)
    excursion: Excursion | None = None
    excursion_count: int = 0
    completed_ts: float | None = None

    def __post_init__(self) -> None:
        if self.accounted_until_ts < self.started_ts:
            self.accounted_until_ts = self.started_ts

    @property
    def elapsed_s(self) -> float:
        return self.accounted_until_ts - self.started_ts

    @property
    def in_tolerance_h(self) -> float:
        return self.in_tolerance_s / 3600.0

    @property
    def target_s(self) -> float:
        return self.plan.target_h * 3600.0

    @property
    def completed(self) -> bool:
        return self.completed_ts is not None

    def next_pullout_h(self) -> float | None:
        """The next planned pull-out not yet due."""
        pending = [p for p in self.plan.pullouts_h if p not in self.pullouts_announced]
        return min(pending) if pending else None

    def feed(self, rows: list[tuple[float, float | None]], max_gap_s: float | None = None
             ) -> Outcome:
        """Account ``(ts, pv_c)`` rows in the order the oven gave them. ``max_gap_s``
        replaces the plan's for these rows (live samples of an oven without a log are
        further apart than its log's rows would be)."""
        out = Outcome()
        gap_s = self.plan.max_gap_s if max_gap_s is None else max_gap_s
        for ts, pv_c in rows:
            if self.completed:
                break
            if ts <= self.accounted_until_ts:
                if ts > self.started_ts:
                    out.rows_out_of_order += 1
                    self.rows_out_of_order += 1
                continue  # before the run, or already accounted, or out of order
            out.rows_used += 1
            self._account(ts, pv_c, out, gap_s)
        self._check_pullouts(out)
        return out

    def account_gap_until(self, ts: float) -> None:
        """Count everything up to ``ts`` as unmonitored (the oven's log cannot supply it)."""
        if ts > self.accounted_until_ts and not self.completed:
            self.unmonitored_s += ts - self.accounted_until_ts
            self.accounted_until_ts = ts

    def _account(self, ts: float, pv_c: float | None, out: Outcome, max_gap_s: float
                 ) -> None:
        start = self.accounted_until_ts
        dt = ts - start
        if pv_c is None or dt > max_gap_s:
            self.unmonitored_s += dt
            self.accounted_until_ts = ts
            self.last_pv_c = pv_c
            return
        self.last_pv_c = pv_c
        deviation = pv_c - self.plan.setpoint_c
        if abs(deviation) <= self.plan.tolerance_c:
            needed = self.target_s - self.in_tolerance_s
            if dt >= needed:
                self.in_tolerance_s = self.target_s
                self.accounted_until_ts = start + needed
                self.completed_ts = self.accounted_until_ts
                out.completed = True
                self._close_excursion(self.accounted_until_ts, out, force=True)
                return
            self.in_tolerance_s += dt
            self.accounted_until_ts = ts
            self._close_excursion(ts, out, force=False)
            return
        self.out_of_tolerance_s += dt
        self.accounted_until_ts = ts
        exc = self.excursion
        if exc is None:
            exc = Excursion(start_ts=start, last_out_ts=ts, peak_deviation_c=deviation,
                            peak_pv_c=pv_c)
            self.excursion = exc
            self.excursion_count += 1
            out.opened.append(exc)
        exc.last_out_ts = ts
        if abs(deviation) > abs(exc.peak_deviation_c):
            exc.peak_deviation_c = deviation
            exc.peak_pv_c = pv_c
        if not exc.alarm_raised and exc.duration_s >= self.plan.alarm_after_s:
            exc.alarm_raised = True
            out.alarm_due.append(exc)

    def _close_excursion(self, ts: float, out: Outcome, *, force: bool) -> None:
        exc = self.excursion
        if exc is None:
            return
        if force or ts - exc.last_out_ts >= self.plan.merge_s:
            exc.end_ts = exc.last_out_ts
            self.excursion = None
            out.closed.append(exc)

    def _check_pullouts(self, out: Outcome) -> None:
        for planned in sorted(self.plan.pullouts_h):
            if planned in self.pullouts_announced:
                continue
            if self.in_tolerance_s >= planned * 3600.0 - 1e-6:
                self.pullouts_announced.append(planned)
                out.pullouts_due.append(planned)

    def totals(self) -> dict[str, float]:
        """Hours in each bucket, and elapsed."""
        return {
            "in_tolerance_h": self.in_tolerance_s / 3600.0,
            "out_of_tolerance_h": self.out_of_tolerance_s / 3600.0,
            "unmonitored_h": self.unmonitored_s / 3600.0,
            "elapsed_h": self.elapsed_s / 3600.0,
        }
