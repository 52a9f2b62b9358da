"""The journal on its own, draining into a real database (SQLite and PostgreSQL) through
the real :class:`DbRecorder`: order across spilling, bounded memory, idempotent replay,
and a restart that drains what an earlier run left on file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.messages import RunEvent
from daq.record import JournalRecord, RunInfo, event_body, run_info_body
from daq.station.journal import SPILL_NAME, Journal
from daq.station.recording import JournalledRecorder
from daq.storage.errors import is_transient
from daq.storage.models import MqttOutbox, Run, RunEventRow
from daq.storage.recorder import DbRecorder
from tests.safety.conftest import DatabaseLock

RUN = "press-00000000000a"
T0 = 1_800_000_000.0


def journal(tmp_path: Path, **kwargs: Any) -> Journal:
    return Journal(tmp_path / "journal", is_transient=is_transient, slow_after_s=0.2, **kwargs)


async def stored_steps(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(RunEventRow).where(RunEventRow.run_id == RUN).order_by(RunEventRow.id))
        return [int(r.data["step"]) for r in rows if r.kind == "progress"]


async def outbox_steps(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(select(MqttOutbox).order_by(MqttOutbox.id))
        bodies = [json.loads(r.payload) for r in rows]
    return [b["data"]["step"] for b in bodies if b.get("kind") == "progress"]


async def record_steps(recorder: JournalledRecorder, steps: range) -> None:
    for i in steps:
        await recorder.event(RunEvent(RUN, T0 + i, "progress", {"step": i}))


async def test_records_keep_their_order_through_memory_spill_file_and_back(
    sessions: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path,
) -> None:
    j = journal(tmp_path, max_memory=5)
    db = DbRecorder(sessions, Bus())
    j.start(db)
    recorder = JournalledRecorder(j, db)
    await recorder.start_run(RunInfo(RUN, "press_cycle", "press1", T0))
    await record_steps(recorder, range(0, 3))
    assert await j.settled(10.0)
    async with DatabaseLock(db_url):
        await record_steps(recorder, range(3, 40))
        # Memory holds at most its bound; the rest is on the spill file, nothing lost.
        # 37 records: 5 in memory (its bound), 32 on file; the writer holds none apart.
        assert j.in_memory == 5
        assert j.spilling and j.spilled_pending == 32
        assert j.depth == 37
        spill = (tmp_path / "journal" / SPILL_NAME).read_text().splitlines()
        assert len(spill) == j.spilled_pending
    await record_steps(recorder, range(40, 45))  # while the file still drains: after it
    assert await j.settled(30.0)
    assert await stored_steps(sessions) == list(range(45))
    assert await outbox_steps(sessions) == list(range(45))  # MQTT delivery order too
    assert not j.spilling and j.depth == 0
    assert (tmp_path / "journal" / SPILL_NAME).stat().st_size == 0
    await j.stop()


async def test_a_record_applied_twice_is_stored_once(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    db = DbRecorder(sessions, Bus())
    start = JournalRecord(0, "8a1f9c1e-0000-4000-8000-000000000001", "start_run",
                          run_info_body(RunInfo(RUN, "press_cycle", "press1", T0)), 0.0)
    step = JournalRecord(1, "8a1f9c1e-0000-4000-8000-000000000002", "event",
                         event_body(RunEvent(RUN, T0 + 1, "progress", {"step": 1})), 0.0)
    await db.apply([start, step])
    # A crash after the commit, before the journal moved on: the same records again.
    await db.apply([start, step])
    await db.apply([step])
    assert await stored_steps(sessions) == [1]
    async with sessions() as session:
        runs = list(await session.scalars(select(Run)))
        outbox = list(await session.scalars(select(MqttOutbox)))
    assert len(runs) == 1
    assert len(outbox) == 2  # started + step: one message each, not two
    assert {json.loads(o.payload)["id"] for o in outbox} == {start.id, step.id}


async def test_a_restarted_station_drains_the_spill_file_first(
    sessions: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path,
) -> None:
    db = DbRecorder(sessions, Bus())
    first = journal(tmp_path, max_memory=3)
    first.start(db)
    recorder = JournalledRecorder(first, db)
    async with DatabaseLock(db_url):
        await recorder.start_run(RunInfo(RUN, "press_cycle", "press1", T0))
        await record_steps(recorder, range(0, 20))
        # The station stops while the database is still locked: all of it onto the file.
        await first.stop(timeout_s=0.3)
    lines = (tmp_path / "journal" / SPILL_NAME).read_text().splitlines()
    assert len(lines) == 21
    assert await stored_steps(sessions) == []

    second = journal(tmp_path, max_memory=3)
    assert second.depth == 21 and second.spilling
    second.start(db)
    again = JournalledRecorder(second, db)
    await record_steps(again, range(20, 25))  # new records come after the old ones
    assert await second.settled(30.0)
    assert await stored_steps(sessions) == list(range(25))
    await second.stop()


async def test_a_torn_last_line_is_left_out_and_the_rest_replayed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    directory.mkdir()
    records = [JournalRecord(0, "8a1f9c1e-0000-4000-8000-00000000000a", "start_run",
                             run_info_body(RunInfo(RUN, "press_cycle", "press1", T0)), 0.0)]
    records += [JournalRecord(i, f"8a1f9c1e-0000-4000-8000-0000000001{i:02d}", "event",
                              event_body(RunEvent(RUN, T0 + i, "progress", {"step": i})), 0.0)
                for i in range(1, 4)]
    data = b"".join(r.to_line() for r in records)
    (directory / SPILL_NAME).write_bytes(data + b'{"seq":4,"id":"x","op":"ev')  # crash mid-write
    j = journal(tmp_path)
    assert j.depth == 4
    j.start(DbRecorder(sessions, Bus()))
    assert await j.settled(10.0)
    assert await stored_steps(sessions) == [1, 2, 3]
    await j.stop()


async def test_a_journal_that_cannot_keep_records_says_so_and_drops_none(
    sessions: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path,
) -> None:
    lost: list[str] = []
    j = journal(tmp_path, max_memory=2, max_spill_bytes=600, on_lost=lost.append)
    db = DbRecorder(sessions, Bus())
    j.start(db)
    recorder = JournalledRecorder(j, db)
    async with DatabaseLock(db_url):
        await recorder.start_run(RunInfo(RUN, "press_cycle", "press1", T0))
        await record_steps(recorder, range(0, 12))
        await asyncio.sleep(0)
        assert lost and "records cannot be kept" in lost[0]
        assert j.lost is not None
        assert j.depth == 13  # kept in memory past the bound rather than dropped
    assert await j.settled(30.0)
    assert await stored_steps(sessions) == list(range(12))
    assert j.lost is None
    await j.stop()
