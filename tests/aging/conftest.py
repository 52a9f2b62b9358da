"""Fixtures of the aging tests: an oven simulator on a pty sharing the test's clock, a
database recorder, and specimens to put in the oven."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from daq.bus import Bus
from daq.clock import SimClock
from daq.storage.models import Sample, Specimen
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import AgingOven
from simulators.clock import Clock
from simulators.oven import LOG_CAPACITY_ROWS, LOG_INTERVAL_S, OvenSim
from simulators.servers import PtyServer

#: Most tests run at a million times real time: 1000 h take 3.6 s.
FAST_SCALE = 1_000_000.0
#: Hang guard of every wait below (real seconds): never what decides a verdict.
HANG_GUARD_S = 60.0


class HoldableClock(Clock):
    """The oven's clock, which a test can hold at a simulated time (``hold_at``).

    At a million times real time a millisecond of the test is 17 simulated minutes, so
    "inject the fault at hour 5, before the run can end" cannot be timed from outside.
    Held, the oven's time stops at ``hold_at`` (its log has no row after it, so no run can
    account beyond it); released (``None``), it is the shared formula again and the oven
    catches up at once (its model is analytic between rows, its log complete)."""

    def __init__(self, scale: float, origin: float) -> None:
        super().__init__(scale=scale, origin=origin)
        self.hold_at: float | None = None
        #: The furthest the oven may run (a run's accounted time plus the log's capacity).
        self.pace: Callable[[], float | None] | None = None

    def running(self) -> float:
        """The shared formula's time, where the oven would be if it were not held."""
        return super().now()

    def now(self) -> float:
        limits = [self.running()]
        if self.hold_at is not None:
            limits.append(self.hold_at)
        paced = self.pace() if self.pace is not None else None
        if paced is not None:
            limits.append(paced)
        return min(limits)


@dataclass
class OvenRig:
    """A simulated oven on a pty and a service clock agreeing with it."""

    sim: OvenSim
    server: PtyServer
    resource: str
    clock: SimClock
    oven_clock: HoldableClock

    def pace_with(self, accounted_until: Callable[[], float | None]) -> None:
        """Never let the oven run more than its log's capacity ahead of what a run has
        accounted: at a million times real time, a machine busy for 8.6 s would otherwise
        let the oven overwrite rows the run has not read (they would count unmonitored)."""
        window = (LOG_CAPACITY_ROWS - 1) * LOG_INTERVAL_S

        def limit() -> float | None:
            until_ts = accounted_until()
            return None if until_ts is None else until_ts + window

        self.oven_clock.pace = limit

    def freeze_oven(self) -> None:
        """Hold the oven where it is now: a run started next sees no row until a test
        moves the hold (:meth:`run_oven_to`) or lets go of it (:meth:`release_oven`)."""
        self.oven_clock.hold_at = self.oven_clock.now()

    async def run_oven_to(self, sim_epoch: float, accounted_until: Callable[[], float]
                          ) -> float:
        """Let the oven run to the first log row at or after ``sim_epoch`` and hold it
        there; return once the run (``accounted_until``) has accounted that row. The oven's
        model is then at that time exactly: a fault injected now starts there."""
        held = math.ceil(sim_epoch / LOG_INTERVAL_S) * LOG_INTERVAL_S
        self.oven_clock.hold_at = held
        await until(lambda: self.oven_clock.running() >= held,
                    f"the oven's clock never reached {held}")
        self.sim.update()
        await until(lambda: accounted_until() >= held,
                    f"the run never accounted the oven's row at {held}")
        return held

    async def release_oven_with_a_row_waiting(self) -> None:
        """Let go of the hold once the oven's own time is a log row past it, so that the
        next LOG? reply the oven makes holds at least one row it has not given yet."""
        held = self.oven_clock.hold_at
        assert held is not None, "the oven is not held"
        await until(lambda: self.oven_clock.running() >= held + LOG_INTERVAL_S,
                    "the oven's clock never passed the hold")
        self.release_oven()

    def release_oven(self) -> None:
        """Let the oven's time run (and catch up) again."""
        self.oven_clock.hold_at = None
        self.sim.update()


async def start_rig(tmp_path: Path, scale: float = FAST_SCALE) -> OvenRig:
    origin = time.time()
    oven_clock = HoldableClock(scale=scale, origin=origin)
    # Held while the oven is built and its server started: its model starts at the time
    # its physics tick starts from (else the model trails the clock by that interval,
    # and a held oven would stop short of the row at the hold).
    oven_clock.hold_at = oven_clock.now()
    sim = OvenSim(oven_clock)
    server = PtyServer(sim, link=tmp_path / "oven-link")
    resource = await server.start()
    oven_clock.hold_at = None
    return OvenRig(sim, server, resource, SimClock(scale=scale, origin=origin), oven_clock)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds, looking every millisecond; the caller goes on in
    the same step of the event loop in which it was seen to hold. HANG_GUARD_S only
    guards against a hang."""
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.001)
    except TimeoutError:
        pytest.fail(f"{what} (hang guard: {HANG_GUARD_S:g} s)")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[OvenRig]:
    r = await start_rig(tmp_path)
    try:
        yield r
    finally:
        await r.server.stop()


@pytest.fixture
async def oven(rig: OvenRig) -> AsyncIterator[AgingOven]:
    async with AgingOven(rig.resource, timeout=2.0) as drv:
        yield drv


@pytest.fixture
def recorder(sessions: Any, bus: Bus, rig: OvenRig) -> DbRecorder:
    return DbRecorder(sessions, bus, prefix="lamina/test-aging", clock=rig.clock)


async def add_specimens(sessions: Any, ids: list[str], sample_id: str = "EX1-2026-001") -> None:
    """A sample of Example 1 and specimens cut from it, as made."""
    async with sessions() as session, session.begin():
        if await session.get(Sample, sample_id) is None:
            session.add(Sample(id=sample_id, material_key="EX1", material_name="Example 1",
                               adhesive_thickness_um=5.0, film_forms=True, created_ts=0.0))
            await session.flush()
        for sid in ids:
            session.add(Specimen(id=sid, sample_id=sample_id, width_mm=3.0, aging_hours=0.0,
                                 state="AS_MADE", created_ts=0.0))
