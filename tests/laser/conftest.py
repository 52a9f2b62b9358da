"""Fixtures of the laser tests: the simulated laser on a real TCP socket and its driver."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from drivers.uv_laser import JobStatus, UvLaser
from simulators.clock import Clock
from simulators.laser import UvLaserSim
from simulators.servers import TcpServer

#: Simulated time runs 100 × real time in these tests (500 holes at 100/s: 50 ms real).
SCALE = 100.0
#: Hang guard of every wait below (real seconds): never what decides a verdict.
HANG_GUARD_S = 60.0


class HoldableClock(Clock):
    """The laser's clock, which a test can hold (``hold``: the latest simulated time).

    A 2000-hole job at 100× lasts 200 ms real: "open the door mid-job" cannot be timed from
    outside on a busy machine. Held, the laser's time (so its drilling) stops where the
    hold says; released (``None``), it is the shared formula again and the laser's model,
    analytic in time, catches up at once."""

    def __init__(self, scale: float) -> None:
        super().__init__(scale=scale)
        self.hold: Callable[[], float] | None = None

    def now(self) -> float:
        running = super().now()
        return running if self.hold is None else min(running, self.hold())


@dataclass
class LaserRig:
    """A simulated laser served on an ephemeral port, and its address."""

    sim: UvLaserSim
    server: TcpServer
    resource: str
    clock: HoldableClock

    def hold_drilling_at(self, holes: int) -> None:
        """Hold the laser's clock the moment its running job has drilled ``holes`` holes,
        so that a fault injected then lands mid-job however slow the machine is."""

        def limit() -> float:
            job = self.sim.job
            if job is None or job.started_ts is None:
                return math.inf
            # Half a hole past the count: float epoch seconds (≈2e9) are not exact.
            return job.started_ts + (holes + 0.5) / job.rate_hz

        self.clock.hold = limit

    async def drilling_held_at(self, holes: int) -> None:
        """Hold drilling at ``holes`` (:meth:`hold_drilling_at`) and wait until the laser
        is there: its job is RUNNING with exactly that many holes."""
        self.hold_drilling_at(holes)
        await wait_until(
            lambda: self.sim.job is not None and self.sim.job.state == "RUNNING"
            and self.sim.job.holes_done == holes,
            f"the laser's job never reached hole {holes}",
        )

    def release_drilling(self) -> None:
        """Let the laser's clock run (and its job catch up) again."""
        self.clock.hold = None
        self.sim.update()


@pytest.fixture
async def rig() -> AsyncIterator[LaserRig]:
    clock = HoldableClock(scale=SCALE)
    sim = UvLaserSim(clock, seed=7)
    server = TcpServer(sim, port=0)
    resource = await server.start()
    try:
        yield LaserRig(sim, server, resource, clock)
    finally:
        await server.stop()


@pytest.fixture
async def laser(rig: LaserRig) -> AsyncIterator[UvLaser]:
    async with UvLaser(rig.resource, timeout_s=1.0) as driver:
        yield driver


async def wait_finished(laser: UvLaser) -> JobStatus:
    """Poll ``JOB:STAT?`` until the job stops drilling; HANG_GUARD_S only guards a hang."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        status = await laser.job_status()
        if status.finished:
            return status
        assert time.monotonic() < deadline, f"hang guard: job still {status}"
        await asyncio.sleep(0.005)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll (real time) until ``condition()``; 60 s is a hang guard, never the verdict
    (the loops this replaces fell through silently after 400 polls on a busy machine)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"hang guard: {what}"
        await asyncio.sleep(0.005)
