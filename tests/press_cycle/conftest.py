"""Fixtures of the press-cycle tests: a real press simulator on a real socket, a driver
connected to it, and the service side on the same accelerated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from daq.bus import Bus
from daq.clock import SimClock
from daq.record import MemoryRecorder
from drivers.lamination_press import LaminationPress
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer

SCALE = 600.0


@dataclass
class Bench:
    """A simulated press on a socket and everything a cycle needs to drive it."""

    sim: PressSimulator
    resource: str
    press: LaminationPress
    clock: SimClock
    bus: Bus
    recorder: MemoryRecorder


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    clock = SimClock(scale=SCALE)
    sim = PressSimulator(Clock(SCALE, clock.origin), seed=1)
    server = TcpServer(sim, "127.0.0.1", 0)
    resource = await server.start()
    bus = Bus()
    press = LaminationPress(resource, timeout_s=1.0)
    await press.connect()
    try:
        yield Bench(sim, resource, press, clock, bus, MemoryRecorder(bus))
    finally:
        await press.close()
        await server.stop()
