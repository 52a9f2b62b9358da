"""Fixtures of the laser tests: the simulated laser on a real TCP socket and its driver."""

from __future__ import annotations

import asyncio
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


@dataclass
class LaserRig:
    """A simulated laser served on an ephemeral port, and its address."""

    sim: UvLaserSim
    server: TcpServer
    resource: str


@pytest.fixture
async def rig() -> AsyncIterator[LaserRig]:
    sim = UvLaserSim(Clock(scale=SCALE), seed=7)
    server = TcpServer(sim, port=0)
    resource = await server.start()
    try:
        yield LaserRig(sim, server, resource)
    finally:
        await server.stop()


@pytest.fixture
async def laser(rig: LaserRig) -> AsyncIterator[UvLaser]:
    async with UvLaser(rig.resource, timeout_s=1.0) as driver:
        yield driver


async def wait_finished(laser: UvLaser, limit_real_s: float = 5.0) -> JobStatus:
    """Poll ``JOB:STAT?`` until the job stops drilling (fails after ``limit_real_s``)."""
    for _ in range(int(limit_real_s / 0.005)):
        status = await laser.job_status()
        if status.finished:
            return status
        await asyncio.sleep(0.005)
    raise AssertionError(f"job still {status} after {limit_real_s} s")


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll (real time) until ``condition()``; 60 s is a hang guard, never the verdict
    (the loops this replaces fell through silently after 400 polls on a busy machine)."""
    deadline = time.monotonic() + 60.0
    while not condition():
        assert time.monotonic() < deadline, f"hang guard: {what}"
        await asyncio.sleep(0.005)
