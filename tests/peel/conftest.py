"""Fixtures of the peel tests: a simulated tester on a real pty, its driver, and a real
database (SQLite always, PostgreSQL when it runs) with the peel store."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.clock import SimClock
from daq.peel.store import PeelStore
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.recorder import DbRecorder
from drivers.peel_tester import PeelTester
from simulators.clock import Clock
from simulators.peel import PeelTester as SimPeelTester
from simulators.servers import PtyServer
from tests.conftest import need_service

#: 60 s of simulated peel take 50 ms.
SCALE = 1200.0
#: Hang guard of every wait in the peel tests (real seconds): never what decides a verdict.
HANG_GUARD_S = 60.0
#: The tester's scale while a test must act mid-peel: at 1200× the whole 60 s peel is one
#: or two 20 ms physics ticks, at 10× it is 6 s real, so "mid-peel" is a moment a test hits.
MID_PEEL_SCALE = 10.0


@dataclass
class Bench:
    """A simulated tester on a pty and the driver connected to it."""

    sim: SimPeelTester
    server: PtyServer
    tester: PeelTester
    clock: SimClock


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    sim_clock = Clock(SCALE)
    sim = SimPeelTester(sim_clock)
    # A stable name, like /dev/serial/by-id/…: after a drop the port comes back under it.
    server = PtyServer(sim, link=tmp_path / "peel1")
    resource = await server.start()
    tester = PeelTester(resource, timeout=2.0)
    await tester.open()
    try:
        yield Bench(sim, server, tester, SimClock(SCALE, origin=sim_clock.origin))
    finally:
        await tester.close()
        await server.stop()


async def _postgres_url() -> AsyncIterator[str]:
    import asyncpg

    need_service("127.0.0.1", 5432, "PostgreSQL")
    name = f"lamina_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def peel_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/peel.db"
        return
    async for url in _postgres_url():
        yield url


@pytest.fixture
async def engine(peel_db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(peel_db_url)
    await create_all(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> PeelStore:
    return PeelStore(sessions)


@pytest.fixture
def recorder(sessions: async_sessionmaker[AsyncSession], bus: Bus) -> DbRecorder:
    return DbRecorder(sessions, bus, prefix=f"lamina/test-{secrets.token_hex(4)}")


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` on the event loop until it holds; the caller goes on in the same
    loop step in which it held. HANG_GUARD_S only guards a hang, naming ``what``."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"hang guard ({HANG_GUARD_S:g} s): {what}"
        await asyncio.sleep(0.001)
