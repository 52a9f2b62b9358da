"""Fixtures of the aging tests: an oven simulator on a pty sharing the test's clock, a
database recorder, and specimens to put in the oven."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
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
from simulators.oven import OvenSim
from simulators.servers import PtyServer

#: Most tests run at a million times real time: 1000 h take 3.6 s.
FAST_SCALE = 1_000_000.0


@dataclass
class OvenRig:
    """A simulated oven on a pty and a service clock agreeing with it."""

    sim: OvenSim
    server: PtyServer
    resource: str
    clock: SimClock


async def start_rig(tmp_path: Path, scale: float = FAST_SCALE) -> OvenRig:
    origin = time.time()
    sim = OvenSim(Clock(scale=scale, origin=origin))
    server = PtyServer(sim, link=tmp_path / "oven-link")
    resource = await server.start()
    return OvenRig(sim, server, resource, SimClock(scale=scale, origin=origin))


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
