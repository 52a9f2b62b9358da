"""Fixtures of the run-queue tests: a real station (press simulator on a socket, the
database of ``db_url``, an embedded broker) on a 600× clock, and press items to queue."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from daq.config import Settings
from daq.station.lab import Lab

SCALE = 600.0


def press_item(sample_id: str, **extra: Any) -> dict[str, Any]:
    """A short press cycle on sample ``sample_id``: 150 °C at 30 °C/min, 1 MPa, a 5 min
    dwell, unload at 120 °C (a few simulated minutes, well under a real second per
    phase at 600×)."""
    return {"temperature_c": 150.0, "pressure_mpa": 1.0, "dwell_min": 5.0,
            "ramp_rate_c_per_min": 30.0, "unload_temperature_c": 120.0,
            "sample_id": sample_id, **extra}


@pytest.fixture
def settings(db_url: str) -> Settings:
    """A station on the test database with its own MQTT prefix, at 600×."""
    return Settings(database_url=db_url, mqtt_url="embedded", embedded_mqtt_port=0,
                    mqtt_prefix=f"lamina/test-{secrets.token_hex(4)}", time_scale=SCALE,
                    readings_flush_interval_s=0.2)


@pytest_asyncio.fixture
async def lab(settings: Settings) -> AsyncIterator[Lab]:
    async with Lab(settings) as running:
        yield running
