"""Every instrument of the embedded station is polled for the live view: the oven's
chamber temperature and the laser's safety chain reach the bus and the database."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sqlalchemy import func, select

from daq.config import Settings
from daq.messages import Reading
from daq.station.lab import Lab
from daq.storage.models import ReadingRow


async def test_oven_and_laser_readings_are_acquired_and_stored(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", mqtt_url="embedded",
        embedded_mqtt_port=0, time_scale=600.0, mqtt_prefix=f"lamina/test-{secrets.token_hex(4)}",
    )
    async with Lab(settings) as lab:
        readings = lab.bus.subscribe("test", (Reading,))
        seen: dict[str, dict[str, float]] = {}
        async with asyncio.timeout(10):
            while not {"oven1", "laser1"} <= seen.keys():
                r = await readings.get()
                assert isinstance(r, Reading)
                seen[r.instrument] = {k: v.v for k, v in r.values.items()}
        oven = lab.simulators.instruments["oven"]
        assert abs(seen["oven1"]["temperature"] - float(oven.handle("PV?") or "nan")) < 5.0
        assert seen["oven1"]["door_open"] == 0.0
        assert seen["laser1"]["shutter_open"] == 0.0 and seen["laser1"]["key_on"] in (0.0, 1.0)
        await lab.writer.flush()
        async with lab.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(ReadingRow).where(
                ReadingRow.instrument == "oven1", ReadingRow.channel == "temperature"))
        assert stored is not None and stored >= 1
