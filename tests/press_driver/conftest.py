"""A press simulator on an ephemeral TCP port, on an accelerated clock, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from drivers.lamination_press import LaminationPress
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer


@dataclass
class SimulatedPress:
    """The simulator, its server and the resource string a driver connects to."""

    sim: PressSimulator
    server: TcpServer
    resource: str


@pytest.fixture
async def press_sim() -> AsyncIterator[SimulatedPress]:
    sim = PressSimulator(Clock(scale=600), seed=1)
    server = TcpServer(sim, "127.0.0.1", 0)
    resource = await server.start()
    try:
        yield SimulatedPress(sim, server, resource)
    finally:
        await server.stop()


@pytest.fixture
async def press(press_sim: SimulatedPress) -> AsyncIterator[LaminationPress]:
    async with LaminationPress(press_sim.resource, timeout_s=1.0) as driver:
        yield driver
