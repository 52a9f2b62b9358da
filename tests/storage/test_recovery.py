"""Crash honesty: live runs found at start-up become INTERRUPTED with what was stored."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Reading, RunEvent
from daq.record import RunInfo
from daq.storage.models import MqttOutbox, Run, RunEventRow
from daq.storage.readings import ReadingWriter
from daq.storage.recorder import DbRecorder
from daq.storage.recovery import INTERRUPTED_REASON, recover_interrupted
from tests.storage.helpers import press_reading


async def test_live_press_run_becomes_interrupted_with_its_counts(
    engine: Any, sessions: Any, bus: Bus
) -> None:
    clock = SimClock(scale=600)
    recorder = DbRecorder(sessions, bus, prefix="lamina/test", clock=clock)
    await recorder.start_run(RunInfo("press-aaaaaaaaaaaa", "press_cycle", "press1", 100.0))
    await recorder.event(RunEvent("press-aaaaaaaaaaaa", 160.0, "transition",
                                  {"from": "PRESS", "to": "DWELL"}))
    await recorder.start_run(RunInfo("aging-bbbbbbbbbbbb", "aging_run", "oven1", 100.0))
    await recorder.start_run(RunInfo("press-cccccccccccc", "press_cycle", "press1", 50.0))
    await recorder.finish_run("press-cccccccccccc", 90.0, "DONE", None, {})
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)), batch_size=64)
    for i in range(250):
        bus.publish(press_reading(100.0 + i, "press-aaaaaaaaaaaa"))
    assert await writer.flush()

    # The service "dies" here; a new one starts and looks at the record.
    found = await recover_interrupted(DbRecorder(sessions, prefix="lamina/test", clock=clock))

    assert [f.run_id for f in found] == ["press-aaaaaaaaaaaa"]
    assert found[0].readings_stored == 750 and found[0].last_reading_ts == 349.0
    async with sessions() as session:
        runs = {r.id: r for r in await session.scalars(select(Run))}
        events = list(await session.scalars(
            select(RunEventRow).where(RunEventRow.run_id == "press-aaaaaaaaaaaa")
            .order_by(RunEventRow.id)))
        outbox = list(await session.scalars(select(MqttOutbox).order_by(MqttOutbox.id)))
    press = runs["press-aaaaaaaaaaaa"]
    assert (press.status, press.reason, press.phase) == ("INTERRUPTED", INTERRUPTED_REASON,
                                                          "DWELL")
    assert press.readings_stored == 750 and press.last_reading_ts == 349.0
    assert press.ended_ts == 349.0  # the last moment the record shows it alive
    assert runs["aging-bbbbbbbbbbbb"].status == "RUNNING"  # its procedure resumes it
    assert runs["press-cccccccccccc"].status == "DONE"
    assert events[-1].kind == "result" and events[-1].data["status"] == "INTERRUPTED"
    last = json.loads(outbox[-1].payload)
    assert outbox[-1].topic == "lamina/test/runs/press-aaaaaaaaaaaa/events"
    assert last["data"]["readings_stored"] == 750 and last["seq"] == outbox[-1].id

    assert await recover_interrupted(DbRecorder(sessions, clock=clock)) == []  # idempotent


async def test_resumable_kinds_are_a_parameter(sessions: Any) -> None:
    recorder = DbRecorder(sessions)
    await recorder.start_run(RunInfo("aging-dddddddddddd", "aging_run", "oven1", 10.0))
    found = await recover_interrupted(recorder, resumable_kinds=(), now_ts=20.0)
    assert [f.run_id for f in found] == ["aging-dddddddddddd"]
    async with sessions() as session:
        run = await session.get(Run, "aging-dddddddddddd")
    assert run is not None and run.status == "INTERRUPTED"
    assert run.readings_stored == 0 and run.last_reading_ts is None and run.ended_ts == 10.0
