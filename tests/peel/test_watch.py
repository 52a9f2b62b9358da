"""Automatic capture: a peel started at the tester's front panel is recorded with no
operator action, linked to the specimen the tester holds (or ``unassigned``)."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.messages import Reading
from daq.peel.procedure import PeelOutcome
from daq.peel.store import PeelStore
from daq.peel.watch import watch_and_capture
from daq.storage.models import Run
from daq.storage.recorder import DbRecorder
from tests.peel.conftest import MID_PEEL_SCALE, Bench, wait_until
from tests.peel.test_procedure import make_specimen


async def test_front_panel_start_is_captured_and_recorded_with_no_operator_action(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await make_specimen(store, bench, "EX1-2026-009-F1")
    # The operator loaded the specimen earlier (from the service, or the tester's keypad).
    await bench.tester.load_specimen("EX1-2026-009-F1")
    outcomes: list[PeelOutcome] = []
    watcher = asyncio.create_task(
        watch_and_capture(bench.tester, clock=bench.clock, recorder=recorder, bus=bus,
                          store=store, idle_timeout_s=1.0, on_outcome=outcomes.append)
    )
    try:
        # No head start for the watcher: what the tester sends waits in the link's buffer.
        bench.sim.handle("SIM:PANEL START")  # somebody presses START on the tester
        await wait_until(lambda: len(outcomes) == 1, "the first peel recorded")
        bench.sim.handle("SIM:PANEL START")  # … and peels the same strip again
        await wait_until(lambda: len(outcomes) == 2, "the second peel recorded")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    first = outcomes[0]
    assert first.status == "DONE", first.reason
    assert first.result is not None and 7.5 < first.result.peel_strength_n_per_cm < 10.5
    row = await store.test(first.run_id)
    assert row is not None
    assert (row.trigger, row.specimen_id, row.sample_id) == (
        "front_panel", "EX1-2026-009-F1", "EX1-2026-009")
    async with sessions() as session:
        run = await session.get(Run, first.run_id)
    assert run is not None and run.status == "DONE" and run.kind == "peel_test"
    assert outcomes[1].run_id != first.run_id


async def test_an_unidentified_strip_is_recorded_as_unassigned(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    outcomes: list[PeelOutcome] = []
    watcher = asyncio.create_task(
        watch_and_capture(bench.tester, clock=bench.clock, recorder=recorder, bus=bus,
                          store=store, idle_timeout_s=1.0, on_outcome=outcomes.append)
    )
    try:
        # No head start for the watcher: what the tester sends waits in the link's buffer.
        bench.sim.handle("SIM:PANEL START")
        await wait_until(lambda: len(outcomes) == 1, "the first peel recorded")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    row = await store.test(outcomes[0].run_id)
    assert row is not None
    assert (row.specimen_label, row.specimen_id, row.status) == ("unassigned", None, "DONE")


async def test_the_watcher_survives_a_dropped_link_and_captures_the_next_peel(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    await make_specimen(store, bench, "EX2-2026-010-F1", "EX2")
    await bench.tester.load_specimen("EX2-2026-010-F1")
    readings = bus.subscribe("test", (Reading,), maxsize=100_000)
    outcomes: list[PeelOutcome] = []
    watcher = asyncio.create_task(
        watch_and_capture(bench.tester, clock=bench.clock, recorder=recorder, bus=bus,
                          store=store, idle_timeout_s=1.0, reconnect_delay_s=0.05,
                          on_outcome=outcomes.append)
    )
    try:
        # No head start for the watcher: what the tester sends waits in the link's buffer.
        # Mid-peel must be a moment the test can hit: at 1200× the whole 60 s peel is one
        # or two 20 ms physics ticks, so the tester runs at 10× until the cable is pulled
        # (100 points take 0.1 s, the peel 6 s), and the pull waits for the tester to be
        # peeling with >100 points already read: ordered, not raced.
        bench.sim.clock.set_scale(MID_PEEL_SCALE)
        bench.sim.handle("SIM:PANEL START")
        await wait_until(lambda: readings.depth() > 100 and bench.sim.peeling, "mid-peel")
        bench.sim.inject("drop")  # the cable is pulled mid-peel
        bench.sim.clock.set_scale(bench.clock.scale)
        await wait_until(lambda: len(outcomes) == 1, "the first peel recorded")
        # Reopened: from here the new pty buffers what the tester sends until it is read.
        await wait_until(lambda: bench.tester.transport.is_open, "the link reopened")
        bench.sim.handle("SIM:PANEL START")
        await wait_until(lambda: len(outcomes) == 2, "the second peel recorded")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert outcomes[0].status == "INCOMPLETE"
    assert outcomes[0].n_points > 0
    assert outcomes[1].status == "DONE", outcomes[1].reason


async def test_a_peel_whose_header_was_lost_to_noise_is_still_captured(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    await make_specimen(store, bench, "EX3-2026-012-F1", "EX3")
    await bench.tester.load_specimen("EX3-2026-012-F1")
    outcomes: list[PeelOutcome] = []
    watcher = asyncio.create_task(
        watch_and_capture(bench.tester, clock=bench.clock, recorder=recorder, bus=bus,
                          store=store, idle_timeout_s=1.0, on_outcome=outcomes.append)
    )
    try:
        # No head start for the watcher: what the tester sends waits in the link's buffer.
        bench.sim.inject("garble", "1")  # the BEGIN header arrives as noise
        bench.sim.handle("SIM:PANEL START")
        await wait_until(lambda: len(outcomes) == 1, "the first peel recorded")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert outcomes[0].status == "DONE", outcomes[0].reason
    row = await store.test(outcomes[0].run_id)
    # Attributed to the specimen this driver loaded; settings from the watcher's defaults.
    assert row is not None and row.specimen_id == "EX3-2026-012-F1" and row.width_mm == 3.0
