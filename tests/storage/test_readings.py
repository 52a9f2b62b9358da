"""ReadingWriter: batches, the flush interval, malformed values, a locked or absent database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daq.bus import Bus
from daq.clock import SimClock
from daq.config import Settings
from daq.messages import Reading, Value
from daq.record import RunInfo
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.models import ReadingRow, Run
from daq.storage.readings import POISON_LIMIT, ReadingWriter
from daq.storage.recorder import DbRecorder
from tests.storage.helpers import press_reading

RUN = "press-0123456789ab"


async def _start_run(sessions: Any, run_id: str = RUN) -> None:
    await DbRecorder(sessions).start_run(RunInfo(run_id, "press_cycle", "press1", 0.0))


async def _stored(sessions: Any, run_id: str | None = RUN) -> tuple[int, float | None]:
    async with sessions() as session:
        count, last = (await session.execute(
            select(func.count(ReadingRow.id), func.max(ReadingRow.ts))
            .where(ReadingRow.run_id == run_id)
        )).one()
    return int(count), last


async def _eventually(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_every_published_reading_is_stored_in_batches(
    engine: Any, sessions: Any, bus: Bus, fast_clock: SimClock
) -> None:
    await _start_run(sessions)
    settings = Settings(readings_batch_size=250, readings_flush_interval_s=0.2)
    writer = ReadingWriter.from_settings(engine, bus, settings)
    writer.start()
    polls = 2000
    for i in range(polls):
        bus.publish(press_reading(fast_clock.now(), RUN if i % 4 else None))
        if i % 100 == 0:
            await asyncio.sleep(0)
    assert await writer.stop()
    with_run = sum(1 for i in range(polls) if i % 4) * 3
    assert writer.stats.rows_written == polls * 3
    assert writer.stats.batches >= polls * 3 // 250
    assert (await _stored(sessions))[0] == with_run
    assert (await _stored(sessions, None))[0] == polls * 3 - with_run
    async with sessions() as session:
        run = await session.get(Run, RUN)
        last_ts = await session.scalar(select(func.max(ReadingRow.ts)).where(
            ReadingRow.run_id == RUN))
    assert run is not None
    assert run.readings_stored == with_run and run.last_reading_ts == last_ts
    assert writer.stats.rows_dropped == 0 and writer.stats.failures == 0


async def test_partial_batch_waits_for_the_flush_interval(
    engine: Any, sessions: Any, bus: Bus, fast_clock: SimClock
) -> None:
    await _start_run(sessions)
    interval_s = 0.3
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)),
                           batch_size=10_000, flush_interval_s=interval_s)
    writer.start()
    published = time.time()
    for _ in range(5):
        bus.publish(press_reading(fast_clock.now(), RUN))
    # Once the writer holds the five readings it has decided not to write them yet …
    await _eventually(lambda: _is(writer.stats.readings_received == 5))
    assert writer.stats.rows_written == 0  # a partial batch is not written at once …
    await _eventually(lambda: _is(writer.stats.rows_written == 15))
    # … but in one batch, one interval later (the writer's own time of the write, not
    # when this test happened to look).
    assert writer.stats.batches == 1 and writer.stats.last_flush_wall is not None
    waited = writer.stats.last_flush_wall - published
    assert interval_s * 0.9 <= waited < interval_s + 1.0  # … but within one interval
    assert (await _stored(sessions))[0] == 15
    await writer.stop()


async def _is(value: bool) -> bool:
    return value


async def test_full_batch_is_written_without_waiting_for_the_interval(
    engine: Any, sessions: Any, bus: Bus, fast_clock: SimClock
) -> None:
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)),
                           batch_size=30, flush_interval_s=60.0)
    writer.start()
    for _ in range(10):
        bus.publish(press_reading(fast_clock.now(), RUN))
    await _eventually(lambda: _is(writer.stats.rows_written == 30), timeout_s=5)
    assert (await _stored(sessions))[0] == 30
    await writer.stop()


async def test_malformed_values_are_rejected_and_counted(
    engine: Any, sessions: Any, bus: Bus
) -> None:
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)), batch_size=10)
    writer.start()
    bus.publish(Reading("press1", 1.0, {"temp_top": Value(float("nan"), "degC"),
                                        "pressure": Value(3.0, "MPa")}, run_id=RUN))
    bus.publish(Reading("press1", 2.0, {"temp_top": Value("19x.2", "degC"),  # type: ignore[arg-type]
                                        "pressure": Value(float("inf"), "MPa")}, run_id=RUN))
    bus.publish(Reading("press1", 2.5, None, run_id=RUN))  # type: ignore[arg-type]
    bus.publish(Reading("press1", "soon", {"x": Value(1.0, "V")}, run_id=RUN))  # type: ignore[arg-type]
    bus.publish(press_reading(3.0, RUN))
    # Once the writer has looked at every one of them (not after 0.05 s) …
    await _eventually(lambda: _is(writer.stats.readings_received == 5))
    assert not writer.start().done()  # storage goes on
    assert await writer.stop()
    assert writer.stats.rows_rejected == 5
    assert await _stored(sessions) == (4, 3.0)


async def test_stop_mid_write_neither_loses_nor_doubles_rows(
    engine: Any, sessions: Any, bus: Bus
) -> None:
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,), maxsize=100_000),
                           batch_size=200)
    for round_ in range(5):
        writer.start()
        for i in range(3000):
            bus.publish(press_reading(round_ * 10_000 + i, RUN))
        await asyncio.sleep(0.01 * round_)
        assert await writer.stop()
    assert (await _stored(sessions))[0] == 5 * 3000 * 3


async def test_locked_sqlite_database_is_retried_and_caught_up(
    tmp_path: Path, bus: Bus, fast_clock: SimClock
) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_s=0.05)
    await create_all(engine)
    sessions = session_factory(engine)
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)),
                           batch_size=100, flush_interval_s=0.05, max_backoff_s=0.2)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        for _ in range(500):
            bus.publish(press_reading(fast_clock.now(), RUN))
        # More failures than a non-transient error would be allowed: still nothing dropped.
        await _eventually(lambda: _is(writer.stats.failures > POISON_LIMIT))
        assert writer.stats.rows_written == 0 and writer.stats.rows_dropped == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    for _ in range(100):  # acquisition went on all along
        bus.publish(press_reading(fast_clock.now(), RUN))
    await _eventually(lambda: _is(writer.stats.rows_written == 600 * 3))
    assert (await _stored(sessions))[0] == 600 * 3
    assert writer.stats.rows_dropped == 0
    await writer.stop()
    await engine.dispose()


async def test_buffer_bound_drops_the_oldest_and_counts_them(
    tmp_path: Path, bus: Bus
) -> None:
    path = tmp_path / "bounded.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_s=0.05)
    await create_all(engine)
    sessions = session_factory(engine)
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)),
                           batch_size=30, flush_interval_s=0.05, max_buffer_rows=300)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        for i in range(200):  # 600 rows against a bound of 300
            bus.publish(press_reading(float(i), RUN))
            await asyncio.sleep(0)
        await _eventually(lambda: _is(writer.stats.readings_received == 200))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await writer.stop()
    assert writer.stats.rows_dropped == 300
    count, last = await _stored(sessions)
    assert count == 300 and last == 199.0  # the newest were kept
    await engine.dispose()


class _TcpProxy:
    """A TCP relay in front of PostgreSQL that can be cut (an outage) and restored."""

    def __init__(self, port: int) -> None:
        self.target_port = port
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.mark.postgres
async def test_postgres_outage_is_ridden_out(
    postgres_database: str, bus: Bus, fast_clock: SimClock
) -> None:
    from tests.conftest import PG_PORT, _pg_admin

    name = postgres_database.rsplit("/", 1)[1]
    await _pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public", database=name)
    proxy = _TcpProxy(PG_PORT)
    await proxy.start()
    engine = create_engine(postgres_database.replace(f":{PG_PORT}/", f":{proxy.port}/"))
    await create_all(engine)
    sessions = session_factory(engine)
    await _start_run(sessions)
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)),
                           batch_size=50, flush_interval_s=0.05, max_backoff_s=0.2)
    writer.start()
    for _ in range(100):
        bus.publish(press_reading(fast_clock.now(), RUN))
    await _eventually(lambda: _is(writer.stats.rows_written == 300))
    await proxy.cut()
    for _ in range(200):
        bus.publish(press_reading(fast_clock.now(), RUN))
    await _eventually(lambda: _is(writer.stats.failures >= 2))
    await proxy.start()  # the database is back on the same address
    await _eventually(lambda: _is(writer.stats.rows_written == 900))
    assert writer.stats.rows_dropped == 0
    assert (await _stored(sessions))[0] == 900
    await writer.stop()
    await engine.dispose()
    await proxy.cut()
