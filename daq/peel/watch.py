"""Automatic capture: record every peel started at the tester's front panel.

:func:`watch_and_capture` runs as a background task of the service. It listens to the
tester; when the tester starts streaming on its own, it opens a ``peel_test`` run for the
specimen the tester names in its ``BEGIN`` header (else the one this driver last loaded,
else ``unassigned``), captures the whole stream and concludes the run exactly as a
commanded :class:`~daq.peel.procedure.PeelTest` does. A lost link is reopened
(with back-off) and watching goes on. Cancel the task to stop watching; cancel it too
while a commanded PeelTest uses the same tester (both read the same line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from daq.bus import Bus
from daq.clock import SimClock
from daq.peel.calculation import SteadyRegionRule
from daq.peel.capture import UNASSIGNED, Capture, capture_stream, conclude
from daq.peel.procedure import RUN_KIND, PeelOutcome
from daq.peel.store import PeelStore
from daq.record import Recorder, RunInfo, new_run_id
from drivers.errors import InstrumentError
from drivers.peel_tester import ChunkItem, PeelBegin, PeelPoint, PeelPoints, PeelTester

log = logging.getLogger(__name__)

#: Real seconds the watcher waits for a run's record before it reports the outcome.
OUTCOME_SETTLE_S = 5.0


async def _prepend(
    first: ChunkItem, rest: AsyncIterator[list[ChunkItem]]
) -> AsyncIterator[list[ChunkItem]]:
    yield [first]
    async for chunk in rest:
        yield chunk


async def capture_front_panel_peel(
    tester: PeelTester,
    first: PeelBegin | PeelPoint,
    *,
    clock: SimClock,
    recorder: Recorder,
    bus: Bus | None,
    store: PeelStore | None,
    instrument: str,
    width_mm: float,
    speed_mm_per_min: float,
    angle_deg: float,
    rule: SteadyRegionRule,
    idle_timeout_s: float,
) -> PeelOutcome:
    """Record one peel whose first stream item has just arrived."""
    if isinstance(first, PeelBegin):
        width_mm, speed_mm_per_min, angle_deg = (
            first.width_mm, first.speed_mm_per_min, first.angle_deg
        )
        label = first.specimen_id or tester.loaded_specimen_id or UNASSIGNED
    else:
        label = tester.loaded_specimen_id or UNASSIGNED
    context = await store.specimen_context(label) if store is not None else None
    run_id = new_run_id(RUN_KIND)
    started_ts = clock.now()
    await recorder.start_run(
        RunInfo(
            run_id=run_id,
            kind=RUN_KIND,
            instrument=instrument,
            started_ts=started_ts,
            recipe={
                "specimen_id": label,
                "trigger": "front_panel",
                "width_mm": width_mm,
                "speed_mm_per_min": speed_mm_per_min,
                "angle_deg": angle_deg,
                "rule": rule.as_dict(),
            },
            sample_id=context.sample_id if context else None,
        )
    )
    capture = Capture(run_id, instrument, started_ts, speed_mm_per_min)
    first_item: ChunkItem = (
        first if isinstance(first, PeelBegin) else PeelPoints([first.mm], [first.n])
    )
    try:
        await capture_stream(
            _prepend(first_item, tester.stream_chunks(idle_timeout_s)), capture, bus
        )
    except asyncio.CancelledError:
        why = f"capture cancelled after {capture.last_mm:.1f} mm (service stopping)"
        await asyncio.shield(
            conclude(capture, clock=clock, recorder=recorder, store=store, context=context,
                     specimen_label=label, width_mm=width_mm, angle_deg=angle_deg, rule=rule,
                     trigger="front_panel", status="INCOMPLETE", reason=why)
        )
        raise
    status, reason, result = await conclude(
        capture, clock=clock, recorder=recorder, store=store, context=context,
        specimen_label=label, width_mm=width_mm, angle_deg=angle_deg, rule=rule,
        trigger="front_panel",
    )
    return PeelOutcome(run_id, status, reason, result, len(capture.mm), capture.garbled_lines)


async def watch_and_capture(
    tester: PeelTester,
    *,
    clock: SimClock,
    recorder: Recorder,
    bus: Bus | None = None,
    store: PeelStore | None = None,
    instrument: str = "peel1",
    width_mm: float = 3.0,
    speed_mm_per_min: float = 50.0,
    angle_deg: float = 90.0,
    rule: SteadyRegionRule | None = None,
    idle_timeout_s: float = 5.0,
    reconnect_delay_s: float = 0.5,
    max_reconnect_delay_s: float = 30.0,
    on_outcome: Callable[[PeelOutcome], None] | None = None,
) -> None:
    """Watch ``tester`` and record each front-panel peel, until cancelled.

    ``width_mm``/``speed_mm_per_min``/``angle_deg`` are used when the tester sends no
    ``BEGIN`` header (which carries its own settings). ``on_outcome`` is called after
    each recorded peel. Delays are real seconds.
    """
    rule = rule or SteadyRegionRule()
    delay = reconnect_delay_s
    while True:
        try:
            if not tester.transport.is_open:
                await tester.reconnect()
            first = await tester.wait_for_start()
            delay = reconnect_delay_s
        except InstrumentError as exc:
            log.warning("peel watcher on %s: %s; reopening in %.1f s", instrument, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_reconnect_delay_s)
            continue
        outcome = await capture_front_panel_peel(
            tester, first, clock=clock, recorder=recorder, bus=bus, store=store,
            instrument=instrument, width_mm=width_mm, speed_mm_per_min=speed_mm_per_min,
            angle_deg=angle_deg, rule=rule, idle_timeout_s=idle_timeout_s,
        )
        log.info("peel watcher on %s: %s %s", instrument, outcome.run_id, outcome.status)
        if on_outcome is not None:
            # Whoever is told reads the run next: its record first (bounded: the tester
            # is idle now, and an outage must not stop the watcher for long).
            await recorder.settled(OUTCOME_SETTLE_S)
            on_outcome(outcome)
