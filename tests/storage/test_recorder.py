"""DbRecorder: rows and their outbox rows are written together, in order, then mirrored."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Alarm, RunEvent
from daq.record import RunInfo
from daq.storage.models import AlarmRow, AuditLog, MqttOutbox, Run, RunEventRow
from daq.storage.recorder import DbRecorder

PREFIX = "lamina/test"


def _recorder(sessions: Any, bus: Bus | None = None) -> DbRecorder:
    return DbRecorder(sessions, bus, prefix=PREFIX, station="lab1", clock=SimClock(scale=600))


async def _outbox(sessions: Any) -> list[MqttOutbox]:
    async with sessions() as session:
        return list(await session.scalars(select(MqttOutbox).order_by(MqttOutbox.id)))


async def test_press_cycle_record_reads_like_the_run(sessions: Any, bus: Bus) -> None:
    mirror = bus.subscribe("ws", (RunEvent,))
    recorder = _recorder(sessions, bus)
    run_id = "press-3f9a1c0b7e21"
    recipe = {"temp_c": 200.0, "pressure_mpa": 3.0, "dwell_min": 20.0}
    await recorder.start_run(RunInfo(run_id, "press_cycle", "press1", 1000.0, recipe, "ana"))
    for ts, (before, after) in enumerate(
        [("PRECHECK", "HEAT"), ("HEAT", "PRESS"), ("PRESS", "DWELL")], start=1001
    ):
        await recorder.event(RunEvent(run_id, float(ts), "transition", {"from": before,
                                                                        "to": after}))
    await recorder.finish_run(run_id, 2300.0, "DONE", None, {"dwell_s": 1200.0})

    async with sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        assert (run.status, run.phase, run.ended_ts, run.operator) == ("DONE", "DWELL", 2300.0,
                                                                        "ana")
        assert run.recipe == recipe and run.summary == {"dwell_s": 1200.0}
        assert run.station == "lab1"
        kinds = list(await session.scalars(
            select(RunEventRow.kind).where(RunEventRow.run_id == run_id).order_by(RunEventRow.id)
        ))
    assert kinds == ["note", "transition", "transition", "transition", "result"]

    rows = await _outbox(sessions)
    assert [r.topic for r in rows] == [f"{PREFIX}/runs/{run_id}/events"] * 5
    payloads = [json.loads(r.payload) for r in rows]
    assert [p["seq"] for p in payloads] == [r.id for r in rows]
    assert all(r.qos == 1 and not r.retain and r.published_ts is None for r in rows)
    assert all(p["id"] == r.message_id and uuid.UUID(p["id"]).version == 4
               for p, r in zip(payloads, rows, strict=True))
    assert payloads[1]["data"] == {"from": "PRECHECK", "to": "HEAT"}
    assert payloads[1]["time"] == "1970-01-01T00:16:41.000+00:00"
    assert payloads[-1]["kind"] == "result" and payloads[-1]["data"]["status"] == "DONE"

    mirrored = mirror.get_batch(100)
    assert [e.kind for e in mirrored] == kinds


async def test_event_and_outbox_row_are_one_transaction(sessions: Any) -> None:
    recorder = _recorder(sessions)
    # An event of a run that does not exist violates the foreign key: nothing may remain,
    # in particular no outbox row announcing an event that is not on record.
    with pytest.raises(IntegrityError):
        await recorder.event(RunEvent("press-000000000000", 5.0, "transition", {"to": "HEAT"}))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(RunEventRow)) == 0
        assert await session.scalar(select(func.count()).select_from(MqttOutbox)) == 0


async def test_outbox_ids_follow_recording_order_under_concurrency(sessions: Any) -> None:
    recorder = _recorder(sessions)
    runs = [f"press-{i:012x}" for i in range(4)]
    for run_id in runs:
        await recorder.start_run(RunInfo(run_id, "press_cycle", "press1", 0.0))

    async def progress(run_id: str) -> None:
        for n in range(10):
            await recorder.event(RunEvent(run_id, float(n), "progress", {"n": n}))

    await asyncio.gather(*(progress(r) for r in runs))
    rows = await _outbox(sessions)
    assert len(rows) == 4 + 40
    assert len({r.message_id for r in rows}) == len(rows)
    for run_id in runs:
        ns = [json.loads(r.payload)["data"].get("n") for r in rows
              if r.topic.endswith(f"/{run_id}/events")][1:]
        assert ns == list(range(10))


async def test_alarm_goes_to_alarms_table_and_alarm_topic(sessions: Any, bus: Bus) -> None:
    mirror = bus.subscribe("ws", (Alarm,))
    recorder = _recorder(sessions, bus)
    alarm = Alarm(50.0, "press1", "critical", "platen over temperature", None,
                  {"temp_top_c": 252.0, "noise": float("nan")})
    await recorder.alarm(alarm)
    async with sessions() as session:
        row = (await session.scalars(select(AlarmRow))).one()
    assert (row.source, row.severity, row.message) == ("press1", "critical",
                                                       "platen over temperature")
    assert row.data == {"temp_top_c": 252.0, "noise": None}
    (outbox,) = await _outbox(sessions)
    assert outbox.topic == f"{PREFIX}/alarms"
    body = json.loads(outbox.payload)
    assert body["message"] == "platen over temperature" and body["severity"] == "critical"
    assert body["data"]["noise"] is None
    assert mirror.get_batch(10) == [alarm]


async def test_audit_records_who_did_what_from_which_state(sessions: Any) -> None:
    recorder = _recorder(sessions)
    await recorder.audit("ana", "abort", "press-3f9a1c0b7e21", "DWELL", {"why": "door"},
                         "ok", ts=77.0)
    async with sessions() as session:
        row = (await session.scalars(select(AuditLog))).one()
    assert (row.user, row.action, row.target, row.from_state, row.result, row.ts) == (
        "ana", "abort", "press-3f9a1c0b7e21", "DWELL", "ok", 77.0)
    assert row.detail == {"why": "door"} and row.wall_ts > 1.6e9


async def test_recorder_waits_out_a_locked_sqlite_database(tmp_path: Any) -> None:
    import sqlite3

    from daq.storage.database import create_all, create_engine, session_factory

    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_s=0.05)
    await create_all(engine)
    sessions = session_factory(engine)
    recorder = _recorder(sessions)
    await recorder.start_run(RunInfo("press-aaaaaaaaaaaa", "press_cycle", "press1", 0.0))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    loop.call_later(0.4, lambda: (other.execute("ROLLBACK"), other.close()))
    await recorder.event(RunEvent("press-aaaaaaaaaaaa", 1.0, "transition", {"to": "HEAT"}))
    assert recorder.retries >= 1
    assert len(await _outbox(sessions)) == 2
    await engine.dispose()


async def test_recorder_gives_up_with_a_typed_error_when_the_database_stays_away() -> None:
    from daq.storage.database import create_engine, session_factory
    from daq.storage.errors import DatabaseUnavailable

    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    recorder = DbRecorder(session_factory(engine), retry_for_s=0.3)
    with pytest.raises(DatabaseUnavailable, match="unavailable"):
        await recorder.start_run(RunInfo("press-aaaaaaaaaaaa", "press_cycle", "press1", 0.0))
    assert recorder.retries >= 1
    await engine.dispose()
