"""Fixtures for MQTT tests: brokers (embedded, system Mosquitto, private Mosquitto), a
unique topic prefix per test, and an outbox database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.mqtt.broker import EmbeddedBroker
from daq.storage.database import create_all, create_engine, session_factory
from tests.conftest import need_service
from tests.mqtt.helpers import PrivateMosquitto


@pytest.fixture
def prefix() -> str:
    return f"lamina/test-{secrets.token_hex(4)}"


@pytest.fixture
async def embedded_broker() -> AsyncIterator[EmbeddedBroker]:
    broker = EmbeddedBroker(port=0)
    await broker.start()
    yield broker
    await broker.stop()


@pytest.fixture
def mosquitto_port() -> int:
    need_service("127.0.0.1", 1883, "Mosquitto")
    return 1883


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    need_service("127.0.0.1", 1883, "Mosquitto")  # the binary comes with the service
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def outbox_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    await create_all(engine)
    yield session_factory(engine)
    await engine.dispose()
