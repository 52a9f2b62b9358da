"""Fixtures of the ownership tests: a migrated database and claimers on it."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.storage.database import create_engine, session_factory, upgrade
from tests.service.test_crash import read_line_matching


@pytest.fixture
async def migrated(db_url: str) -> AsyncIterator[str]:
    """``db_url`` migrated to head (as a station finds it)."""
    await upgrade(db_url)
    yield db_url


@pytest.fixture
async def station_sessions(migrated: str) -> AsyncIterator[
        tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]]:
    """Two independent engines on one database, as two stations have."""
    a, b = create_engine(migrated), create_engine(migrated)
    try:
        yield session_factory(a), session_factory(b)
    finally:
        await a.dispose()
        await b.dispose()


@contextlib.contextmanager
def press_simulator(scale: float, origin: float) -> Iterator[str]:
    """The press simulator in a process of its own (``python -m simulators press``); its
    resource string."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "press", "--time-scale", str(scale),
         "--time-origin", repr(origin), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        yield read_line_matching(proc, r"^press (\S+)", 15).group(1)
    finally:
        proc.terminate()
        proc.wait(5)


def press_config(path: Path, resource: str, poll_s: float = 0.1) -> Path:
    """A daq.toml naming one press at ``resource``."""
    path.write_text(f'[instruments.press1]\ndriver = "lamination_press"\n'
                    f'resource = "{resource}"\npoll_interval_s = {poll_s}\n')
    return path


def daq_env(db_url: str, station: str, **extra: str) -> dict[str, str]:
    """The environment of a ``daq`` child process of station ``station`` on ``db_url``."""
    return {**os.environ, "DAQ_DATABASE_URL": db_url, "DAQ_STATION": station,
            "DAQ_MQTT_URL": "embedded", "DAQ_EMBEDDED_MQTT_PORT": "0",
            "DAQ_MQTT_PREFIX": f"lamina/test-{secrets.token_hex(4)}", **extra}


DAQ = str(Path(sys.executable).with_name("daq"))
