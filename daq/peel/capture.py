"""Capture of one peel: read the tester's stream into a curve, publish it live, and
conclude the run (result, stored curve, recorded outcome).

Shared by the :class:`~daq.peel.procedure.PeelTest` procedure (operator command)
and by the automatic capture of front-panel starts (:mod:`daq.peel.watch`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Reading, RunEvent, Value
from daq.peel.calculation import PeelCalculationError, PeelResult, SteadyRegionRule, peel_result
from daq.peel.store import PeelRecord, PeelStore, SpecimenContext
from daq.record import Recorder
from drivers.errors import InstrumentConnectionError, InstrumentError, InstrumentTimeout
from drivers.peel_tester import ChunkItem, GarbledLine, PeelBegin, PeelEnd, PeelFault, PeelPoints

UNASSIGNED = "unassigned"
#: Simulated seconds between live readings on the bus (the tester samples at 100 Hz).
LIVE_READING_INTERVAL_S = 0.1


@dataclass
class Capture:
    """What arrived of one peel so far; complete when ``end_reason`` is set."""

    run_id: str
    instrument: str
    started_ts: float
    speed_mm_per_min: float
    mm: list[float] = field(default_factory=list)
    force_n: list[float] = field(default_factory=list)
    garbled_lines: int = 0
    faults: list[PeelFault] = field(default_factory=list)
    begin: PeelBegin | None = None
    end_reason: str | None = None
    error: InstrumentError | None = None

    def point_ts(self, mm: float) -> float:
        """Simulated time of a point: start time + travel / speed."""
        return self.started_ts + mm * 60.0 / self.speed_mm_per_min

    @property
    def last_mm(self) -> float:
        """Travel reached so far."""
        return self.mm[-1] if self.mm else 0.0


async def capture_stream(
    chunks: AsyncIterator[list[ChunkItem]],
    capture: Capture,
    bus: Bus | None = None,
    reading_interval_s: float = LIVE_READING_INTERVAL_S,
) -> Capture:
    """Consume the tester's stream (``PeelTester.stream_chunks``) into ``capture`` until
    its end or a link failure.

    Garbled lines are counted and skipped. A lost link or a silent tester is kept in
    ``capture.error`` (not raised): what arrived before it is the partial curve.
    Points go on the bus as ``Reading``s (channels ``force``, ``travel``) for the live
    view, at most one per ``reading_interval_s`` of simulated time (0: every point);
    the whole curve is the record, stored with the test.
    """
    run_id, instrument = capture.run_id, capture.instrument
    t0, s_per_mm = capture.started_ts, 60.0 / capture.speed_mm_per_min
    next_mm = -math.inf
    step_mm = reading_interval_s / s_per_mm
    try:
        async for chunk in chunks:
            for item in chunk:
                if type(item) is PeelPoints:
                    capture.mm.extend(item.mm)
                    capture.force_n.extend(item.n)
                    if bus is None:
                        continue
                    # Travel only grows: bisect finds the next point due for the live view.
                    i = bisect.bisect_left(item.mm, next_mm)
                    while i < len(item.mm):
                        mm, force = item.mm[i], item.n[i]
                        bus.publish(
                            Reading(
                                instrument,
                                t0 + mm * s_per_mm,
                                {"force": Value(force, "N"), "travel": Value(mm, "mm")},
                                run_id,
                            )
                        )
                        next_mm = mm + step_mm if step_mm > 0 else math.nextafter(mm, math.inf)
                        i = bisect.bisect_left(item.mm, next_mm, i + 1)
                elif isinstance(item, GarbledLine):
                    capture.garbled_lines += 1
                elif isinstance(item, PeelEnd):
                    capture.end_reason = item.reason
                    return capture
                elif isinstance(item, PeelFault):
                    capture.faults.append(item)
                elif isinstance(item, PeelBegin):
                    capture.begin = item
    except InstrumentError as exc:
        capture.error = exc
    return capture


def outcome_of(capture: Capture) -> tuple[str, str | None]:
    """Run status and reason for a finished capture."""
    where = f"after {capture.last_mm:.1f} mm ({len(capture.mm)} points)"
    if capture.error is not None:
        if isinstance(capture.error, InstrumentTimeout):
            return "INCOMPLETE", f"the tester stopped sending {where}: {capture.error}"
        if isinstance(capture.error, InstrumentConnectionError):
            return "INCOMPLETE", f"link to the tester lost mid-peel {where}: {capture.error}"
        return "INCOMPLETE", f"peel cut short {where}: {capture.error}"
    if capture.end_reason == "OVERLOAD":
        detail = "; ".join(f.text for f in capture.faults) or "load cell overload"
        return "FAULTED", f"load cell overload {where}: {detail}"
    if capture.end_reason == "STOPPED":
        return "INCOMPLETE", f"peel stopped at the tester {where}"
    if capture.end_reason == "COMPLETE":
        return "DONE", None
    return "INCOMPLETE", f"stream ended without END {where}"


async def conclude(
    capture: Capture,
    *,
    clock: SimClock,
    recorder: Recorder,
    store: PeelStore | None,
    context: SpecimenContext | None,
    specimen_label: str,
    width_mm: float,
    angle_deg: float,
    rule: SteadyRegionRule,
    trigger: str,
    status: str | None = None,
    reason: str | None = None,
) -> tuple[str, str | None, PeelResult | None]:
    """Compute the result of a finished capture, store curve and result, end the run."""
    if status is None:
        status, reason = outcome_of(capture)
    result: PeelResult | None = None
    if status == "DONE":
        try:
            result = peel_result(capture.mm, capture.force_n, width_mm, rule, capture.garbled_lines)
        except PeelCalculationError as exc:
            status, reason = "INCOMPLETE", f"no peel strength: {exc}"
    ended_ts = clock.now()
    if store is not None:
        await recorder.settled()  # the run row is on record before its peel_tests row
        await store.save(
            PeelRecord(
                run_id=capture.run_id,
                specimen_id=context.specimen_id if context else None,
                specimen_label=context.specimen_id if context else specimen_label,
                sample_id=context.sample_id if context else None,
                laminate_id=context.laminate_id if context else None,
                aging_hours=context.aging_hours if context else None,
                instrument=capture.instrument,
                width_mm=width_mm,
                speed_mm_per_min=capture.speed_mm_per_min,
                angle_deg=angle_deg,
                trigger=trigger,
                status=status,
                end_reason=capture.end_reason,
                reason=reason,
                started_ts=capture.started_ts,
                ended_ts=ended_ts,
                garbled_lines=capture.garbled_lines,
                mm=capture.mm,
                force_n=capture.force_n,
                result=result,
                rule=rule,
            )
        )
    summary: dict[str, object] = {
        "specimen_id": context.specimen_id if context else specimen_label,
        "sample_id": context.sample_id if context else None,
        "laminate_id": context.laminate_id if context else None,
        "aging_hours": context.aging_hours if context else None,
        "n_points": len(capture.mm),
        "garbled_lines": capture.garbled_lines,
        "end_reason": capture.end_reason,
        "travel_mm": capture.last_mm,
        "trigger": trigger,
    }
    if result is not None:
        summary.update(result.as_dict())
        summary["rule"] = rule.as_dict()
        await recorder.event(RunEvent(capture.run_id, ended_ts, "result", dict(summary)))
    await recorder.event(
        RunEvent(
            capture.run_id,
            ended_ts,
            "transition",
            {"from": "PEEL", "to": status, "reason": reason},
        )
    )
    await recorder.finish_run(capture.run_id, ended_ts, status, reason, dict(summary))
    return status, reason, result
