"""Fixtures of the safety tests: a press simulator in a process of its own, an observer
speaking its wire protocol on a link of its own, a station (Lab + API) on the test's
database, and a lock on that database held as another client would hold it."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from daq.api import accounts, create_app
from daq.config import InstrumentConfig, Settings
from daq.station.lab import Lab

#: Simulated time runs this many times faster. 120 rather than the issue's 60: the
#: heat-up (25 → 150 °C at 10 °C/min, 12.5 simulated min) then takes 6 s, not 12.5 s,
#: per test and backend, and the station's 0.2 s poll is still 24 simulated s.
SCALE = 120.0
#: The station's poll interval (real seconds), also the bound of "within one poll".
POLL_S = 0.2
#: Tables a second PostgreSQL client locks: everything a run's record is written to.
PG_LOCKED = "runs, run_events, readings, alarms, mqtt_outbox, journal_applied"


@dataclass
class PressSample:
    """One look at the press over its own protocol (real monotonic time ``t``)."""

    t: float
    heater_on: bool
    pressure_on: bool
    temp_top: float
    temp_bottom: float
    pressure: float
    state: str

    @property
    def safe(self) -> bool:
        """Heaters off, pressure output off, the press in SAFE (what ABOR leaves)."""
        return not self.heater_on and not self.pressure_on and self.state == "SAFE"


class PressObserver:
    """A client of the press simulator of its own: nothing of the station's is used."""

    def __init__(self, resource: str) -> None:
        _, self.host, port, _ = resource.split("::")
        self.port = int(port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> PressObserver:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def ask(self, command: str) -> str:
        assert self._reader is not None and self._writer is not None
        self._writer.write(command.encode() + b"\n")
        await self._writer.drain()
        return (await asyncio.wait_for(self._reader.readline(), 2.0)).decode().strip()

    async def sample(self) -> PressSample:
        heater = await self.ask("OUTP:HEAT?")
        pressure_on = await self.ask("OUTP:PRES?")
        top, bottom, pressure, _ram, state = (await self.ask("MEAS:ALL?")).split(",")
        return PressSample(time.monotonic(), heater == "1", pressure_on == "1", float(top),
                           float(bottom), float(pressure), state)


def _read_resource(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"^press (\S+)", line)
        if found:
            return found.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the press simulator did not say where it listens")


@pytest.fixture
def press_process() -> Iterator[tuple[str, float]]:
    """``python -m simulators press`` in its own process: its resource and time origin."""
    origin = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "press", "--time-scale", str(SCALE),
         "--time-origin", repr(origin), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        yield _read_resource(proc, 15.0), origin
    finally:
        proc.terminate()
        proc.wait(5)


class DatabaseLock:
    """The station's database held locked by another client, as a backup job or a
    migration would: SQLite ``BEGIN EXCLUSIVE`` on a second connection (writers wait),
    PostgreSQL ``LOCK TABLE … IN ACCESS EXCLUSIVE MODE`` (readers and writers wait)."""

    def __init__(self, db_url: str) -> None:
        self.url = make_url(db_url)
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def __aenter__(self) -> DatabaseLock:
        if self.url.get_backend_name() == "sqlite":
            def lock() -> sqlite3.Connection:
                conn = sqlite3.connect(str(self.url.database), timeout=10,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("BEGIN EXCLUSIVE")
                return conn
            # In a thread: waiting for a writer's lock must not stall the station's loop.
            self._sqlite = await asyncio.to_thread(lock)
        else:
            import asyncpg

            u = self.url
            self._pg = await asyncpg.connect(host=u.host, port=u.port, user=u.username,
                                             database=u.database)
            # The tables are locked one after another, so a station transaction that
            # already holds one of them and then waits on another deadlocks with us;
            # PostgreSQL then aborts one side. When that is us, we try again, as a
            # backup job would: the station's side must never be the one that loses data.
            while True:
                await self._pg.execute("BEGIN")
                try:
                    await self._pg.execute(f"LOCK TABLE {PG_LOCKED} IN ACCESS EXCLUSIVE MODE")
                except asyncpg.exceptions.DeadlockDetectedError:
                    await self._pg.execute("ROLLBACK")
                    continue
                break
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sqlite is not None:
            conn = self._sqlite
            await asyncio.to_thread(conn.execute, "ROLLBACK")
            await asyncio.to_thread(conn.close)
        if self._pg is not None:
            await self._pg.execute("ROLLBACK")
            await self._pg.close()


@dataclass
class Station:
    """A running station on the external press, its API, and an operator's token."""

    lab: Lab
    app: Any
    token: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://lab",
            headers={"Authorization": f"Bearer {self.token}"}, timeout=60.0,
        )


@pytest.fixture
async def station(
    db_url: str, tmp_path: Path, press_process: tuple[str, float]
) -> AsyncIterator[Station]:
    resource, origin = press_process
    settings = Settings(
        database_url=db_url, mqtt_url="embedded", embedded_mqtt_port=0,
        mqtt_prefix=f"lamina/test-{tmp_path.name[-8:]}", time_scale=SCALE,
        time_origin=origin, readings_flush_interval_s=0.2, journal_dir=tmp_path / "journal",
        instruments={"press1": InstrumentConfig(driver="lamination_press", resource=resource,
                                                poll_interval_s=POLL_S)},
    )
    async with Lab(settings) as lab:
        async with lab.sessions() as session:
            await accounts.add_user(session, "op1", "operator", "operator-pw-123")
            token, _ = await accounts.issue_token(session, "op1")
        app = create_app(lab)
        async with app.router.lifespan_context(app):
            yield Station(lab, app, token)
