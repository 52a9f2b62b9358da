"""Fixtures shared by the whole suite. Areas keep their own in tests/<area>/conftest.py."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from daq.api import accounts
from daq.bus import Bus
from daq.clock import SimClock

# Users are created by the hundred here (three per station fixture): their passwords are
# hashed with argon2id at a small cost, 1 pass over 1 MiB instead of 3 over 64 MiB (each
# default hash took 0.1-0.25 s of a core; the suite spent about a minute of CPU on them).
# That hashing stays off the event loop is tested at the defaults (the twenty guessing
# clients of tests/api/test_hardening.py). `daq` processes the tests start keep them.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
accounts.use_password_hasher(TEST_HASHER)

# Serial-port lock files (UUCP ``LCK..pts_N``) in a directory of this test process's own:
# pty numbers are reused across processes, so test workers side by side must not see each
# other's locks of ptys that have since gone (a real lab's ports do not come and go).
os.environ["LAMINA_LOCK_DIR"] = tempfile.mkdtemp(prefix="lamina-locks-")

# Where `daq` commands started by tests look for a station: a port of this test process
# bound but never listening, so a connection is refused (no station there, the command
# runs one in-process) even when someone runs `daq run` on the default port beside the
# tests. A test that wants a station sets DAQ_STATION_URL to that station's URL.
_NO_STATION = socket.socket()
_NO_STATION.bind(("127.0.0.1", 0))
NO_STATION_URL = f"http://127.0.0.1:{_NO_STATION.getsockname()[1]}"
os.environ["DAQ_STATION_URL"] = NO_STATION_URL

#: Set by scripts/test (and so CI): a missing service is a failure, never a skip.
REQUIRE_SERVICES = (
    os.environ.get("LAMINA_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)


def port_open(host: str, port: int) -> bool:
    """True if something accepts TCP connections at host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def need_service(host: str, port: int, what: str) -> None:
    """Fail (under scripts/test and CI) or skip (a bare local pytest) if a service is down."""
    if port_open(host, port):
        return
    message = f"{what} is not running at {host}:{port} (scripts/services starts it)"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def fast_clock() -> SimClock:
    """Simulated time at 600× (a 20-minute dwell takes 2 s)."""
    return SimClock(scale=600)


# -- databases (SQLite and PostgreSQL alike) -------------------------------------------

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


def _run_async(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine in its own thread and loop (safe from sync fixtures)."""
    async def main() -> Any:
        return await fn()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _pg_admin(sql: str, database: str = "postgres") -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
    try:
        for statement in sql.split(";"):
            if statement.strip():
                await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database ``lamina_test_<hex>`` for this test session (dropped after)."""
    need_service(PG_HOST, PG_PORT, "PostgreSQL")
    name = f"lamina_test_{secrets.token_hex(5)}"
    _run_async(lambda: _pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _run_async(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file in tmp_path, or the session's PostgreSQL database
    with its schema emptied. Tests using it run once per backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'lamina.db'}"
    url: str = request.getfixturevalue("postgres_database")
    empty_postgres_schema(url)
    return url


def empty_postgres_schema(url: str) -> None:
    """Drop every table of the PostgreSQL database at ``url`` (its ``public`` schema anew)."""
    name = url.rsplit("/", 1)[1]
    _run_async(
        lambda: _pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public", database=name)
    )


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Any]:
    """An async engine on ``db_url`` with every area's tables created."""
    from daq.storage.database import create_all, create_engine

    eng = create_engine(db_url)
    await create_all(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: Any) -> Any:
    """An ``async_sessionmaker`` on ``engine``."""
    from daq.storage.database import session_factory

    return session_factory(engine)


# -- the timing-sensitive set (scripts/stress runs it beside stress-ng) ----------------

#: Tests whose outcome could depend on how fast the machine is: accelerated clocks at high
#: scales, watchdogs, outages, crashes, live streams, a browser. They must wait for what
#: they mean, never for a real-time margin; `scripts/stress` runs them under CPU load.
TIMING_SENSITIVE = (
    "tests/aging/",
    "tests/api/test_stream.py",
    "tests/browser/",
    "tests/campaign/",
    "tests/laser/test_laser_job.py",
    "tests/mqtt/",
    "tests/cli/",
    "tests/ownership/",
    "tests/peel/test_dialects.py",
    "tests/peel/test_procedure.py",
    "tests/peel/test_watch.py",
    "tests/press_cycle/test_cli.py",
    "tests/press_cycle/test_cycle.py",
    "tests/press_driver/test_watchdog.py",
    "tests/queue/",
    "tests/safety/",
    "tests/service/",
    "tests/station/",
    "tests/storage/test_readings.py",
    "tests/transport/test_cancellation.py",
)


#: The longest tests (20–110 s each on the 2-core machine; most take a second or two),
#: longest first. scripts/test hands tests out one at a time as workers free up (``--dist
#: load --maxschedchunk 1``), so these start first, one per worker, and none of them starts
#: last to run alone while the other workers idle.
LONGEST_FIRST = (
    "tests/browser/test_table1.py",
    "tests/campaign/test_table1.py",
    "tests/campaign/test_resume.py",
    "tests/cli/test_readme.py",
    "tests/safety/test_database_outage.py",
    "tests/aging/test_modbus_restart.py",
    "tests/client/test_notebook_example.py",
    "tests/client/test_station_frames.py",
    "tests/opcua/test_server.py",
    "tests/browser/test_work.py",
    "tests/peel/test_cli.py",
    "tests/browser/test_views.py",
    "tests/browser/test_runs.py",
    "tests/cli/test_campaign_through_station.py",
    "tests/cli/test_press_through_station.py",
)


def _longest_first_rank(where: str) -> int:
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if where.startswith(prefix)),
                len(LONGEST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the timing-sensitive set ``timing`` (select it with ``-m timing``), and put
    the :data:`LONGEST_FIRST` tests at the front (a stable sort: the rest keep their order)."""
    root = Path(str(config.rootpath))
    rank: dict[str, int] = {}
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if where.startswith(TIMING_SENSITIVE):
            item.add_marker(pytest.mark.timing)
        rank[item.nodeid] = _longest_first_rank(where)
    items.sort(key=lambda item: rank[item.nodeid])


#: Real seconds before pytest-timeout's limit at which a test still running has the stacks
#: of its asyncio tasks printed: the thread dump pytest-timeout makes shows only the loop
#: waiting in select(), not which await never ended.
TASK_DUMP_BEFORE_TIMEOUT_S = 60.0


def _dump_asyncio_tasks(nodeid: str) -> None:
    """Print every task of every running event loop with its stack (diagnosis of a hang)."""
    import gc
    import sys
    import traceback

    loops = [o for o in gc.get_objects()
             if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
    print(f"\n+++ {nodeid} is still running: asyncio tasks of {len(loops)} running loop(s)",
          file=sys.stderr)
    for loop in loops:
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:  # the set changed under us; one more try
            tasks = list(asyncio.all_tasks(loop))
        for task in tasks:
            print(f"--- {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
            # The whole chain of awaits, outermost first (a task's own stack shows only
            # its outermost coroutine).
            awaited: Any = task.get_coro()
            while awaited is not None:
                frame = (getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                         or getattr(awaited, "ag_frame", None))
                if frame is not None:
                    print("".join(traceback.format_stack(frame, limit=1)).rstrip(),
                          file=sys.stderr)
                awaited = (getattr(awaited, "cr_await", None)
                           or getattr(awaited, "gi_yieldfrom", None)
                           or getattr(awaited, "ag_await", None))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Iterator[None]:
    """Set-up, call and tear-down of one test, with the task dump armed."""
    import threading

    limit = float(item.config.getini("timeout") or 0)
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        limit = float(marker.args[0])
    timer = None
    if limit > TASK_DUMP_BEFORE_TIMEOUT_S:
        timer = threading.Timer(limit - TASK_DUMP_BEFORE_TIMEOUT_S, _dump_asyncio_tasks,
                                args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
