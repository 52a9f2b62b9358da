"""Fixtures of the simulator-wiring tests: a simulated station (its simulators
in-process, SQLite, the embedded broker), and helpers that register what the lab makes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from daq.laser.store import LaserJobStore, SampleInfo
from daq.materials import material_info
from daq.peel.store import PeelStore
from daq.station.interface import Station
from daq.station.lab import Lab
from tests.api.conftest import station_settings

#: A 60 s peel takes 50 ms, a 100-hole job 1 ms.
SCALE = 1200.0
#: Hang guard of every wait here (real seconds): never what decides a verdict.
HANG_GUARD_S = 120.0


@pytest_asyncio.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """A simulated station, as `daq run` starts one with no instruments configured."""
    async with Lab(station_settings(tmp_path, scale=SCALE)) as station:
        yield station


async def register_specimen(station: Station, specimen_id: str, lot: str, key: str,
                            aging_hours: float = 0.0) -> None:
    """A specimen cut from lot ``lot`` of material ``key``, aged ``aging_hours`` at 150 °C."""
    info = material_info(key)
    await PeelStore(station.sessions).ensure_specimen(
        specimen_id, sample_id=lot, material_key=info.key, material_name=info.name,
        adhesive_thickness_um=info.adhesive_thickness_um, film_forms=info.film_forms,
        note=info.note, now_ts=station.clock.now(), aging_hours=aging_hours)


async def register_lot(station: Station, lot: str, key: str) -> None:
    """A sample lot of material ``key`` at its Table 1 adhesive thickness."""
    info = material_info(key)
    await LaserJobStore(station.sessions).ensure_sample(
        SampleInfo(lot, info.key, info.name, info.adhesive_thickness_um, info.film_forms),
        station.clock.now())
