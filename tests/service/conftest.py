"""Fixtures for the station (``daq.station.lab.Lab``) tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daq.config import Settings
from tests.conftest import need_service
from tests.mqtt.helpers import PrivateMosquitto

#: A short but complete cycle: 150 °C, 1 MPa, 5 min dwell, unload at 120 °C.
QUICK_RECIPE: dict[str, Any] = {
    "temperature_c": 150.0, "pressure_mpa": 1.0, "dwell_min": 5.0,
    "unload_temperature_c": 120.0,
}


@pytest.fixture
def prefix() -> str:
    return f"lamina/test-{secrets.token_hex(4)}"


@pytest.fixture
def make_settings(prefix: str) -> Callable[..., Settings]:
    """Settings for a station on a test database, a unique prefix and 600× time."""

    def make(database_url: str, mqtt_url: str = "embedded", **extra: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url, "mqtt_url": mqtt_url, "mqtt_prefix": prefix,
            "embedded_mqtt_port": 0, "time_scale": 600.0, "readings_flush_interval_s": 0.2,
        }
        values.update(extra)
        return Settings(**values)

    return make


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    """A Mosquitto of this test's own (persistence on), to stop and restart."""
    need_service("127.0.0.1", 1883, "Mosquitto")  # the binary comes with the service
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()
