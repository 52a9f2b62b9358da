"""AgingRun end to end in one process: oven simulator on a pty, driver, runner, database
(SQLite and PostgreSQL), on a clock a million times faster than real time."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.aging.store import AgingError, record_pullout, status
from daq.storage.aging_models import AgingRunRow
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.models import MqttOutbox, Run, RunEventRow, Specimen
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import AgingOven
from drivers.errors import InstrumentCommandError
from tests.aging.conftest import OvenRig, add_specimens, until

HOUR = 3600.0


def runner_for(rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
               ) -> AgingRunner:
    runner = AgingRunner(ovens={"oven1": oven}, clock=rig.clock, recorder=recorder,
                         sessions=sessions, bus=recorder.bus)
    rig.pace_with(lambda: min((r.acc.accounted_until_ts for r in runner.runs.values()
                               if not r.finished), default=None))
    return runner


def assert_accounts_every_hour(report: dict[str, Any]) -> None:
    total = report["in_tolerance_h"] + report["out_of_tolerance_h"] + report["unmonitored_h"]
    assert total == pytest.approx(report["elapsed_h"], abs=1e-6)


async def outbox(sessions: Any) -> list[dict[str, Any]]:
    async with sessions() as s:
        rows = await s.scalars(select(MqttOutbox).order_by(MqttOutbox.id))
        return [{"topic": r.topic, "qos": r.qos, **json.loads(r.payload)} for r in rows]


async def test_a_1000_hour_run_completes_and_accounts_every_hour(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1", "S2", "S3"])
    runner = runner_for(rig, oven, recorder, sessions)
    rid = await runner.start(AgingPlan(), ["S1", "S2", "S3"])
    acc = await runner.wait(rid)
    report = await status(sessions, rid)
    assert report["status"] == "DONE"
    assert report["in_tolerance_h"] == pytest.approx(1000.0)
    assert report["unmonitored_h"] == 0.0 and report["out_of_tolerance_h"] == 0.0
    assert_accounts_every_hour(report)
    async with sessions() as s:
        run = await s.get(Run, rid)
        assert run is not None and run.status == "DONE" and run.ended_ts is not None
        assert (run.ended_ts - run.started_ts) / HOUR == pytest.approx(1000.0, abs=1e-6)
    assert acc.completed
    assert [d["planned_h"] for d in report["pullouts_due"]] == [250.0, 500.0, 1000.0]


async def test_door_open_two_hours_is_one_excursion_with_one_alarm(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # the door opens at hour 5 of the oven's time, however busy we are
    rid = await runner.start(AgingPlan(target_h=30, pullouts_h=(30,)), ["S1"])
    run = runner.runs[rid]
    door_ts = await rig.run_oven_to(run.acc.started_ts + 5 * HOUR,
                                    lambda: run.acc.accounted_until_ts)
    rig.sim.inject("door", "2")
    rig.release_oven()
    await runner.wait(rid)
    report = await status(sessions, rid)
    (exc,) = report["excursions"]
    assert door_ts - 120 <= exc["start_ts"] <= door_ts + 0.5 * HOUR
    # two hours open, then the chamber climbs back into the band
    assert 2.0 <= exc["duration_h"] <= 3.5
    assert exc["peak_deviation_c"] < -100.0 and exc["alarm_raised"]
    assert report["out_of_tolerance_h"] == pytest.approx(exc["duration_h"], abs=0.2)
    assert report["in_tolerance_h"] == pytest.approx(30.0)
    assert report["elapsed_h"] == pytest.approx(30.0 + report["out_of_tolerance_h"], abs=1e-6)
    assert_accounts_every_hour(report)
    messages = await outbox(sessions)
    alarms = [m for m in messages if m["topic"].endswith("/alarms")]
    assert len(alarms) == 1
    assert alarms[0]["run_id"] == rid and alarms[0]["data"]["kind"] == "aging_excursion"
    assert alarms[0]["qos"] == 1
    notes = [m["data"].get("what") for m in messages if m["topic"].endswith("/events")]
    assert notes.count("excursion_started") == 1 and notes.count("excursion_ended") == 1


async def test_every_event_and_alarm_of_a_run_has_its_outbox_row(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # the door opens at hour 3 of the oven's time, before the end
    rid = await runner.start(AgingPlan(target_h=40, pullouts_h=(20, 40)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 3 * HOUR, lambda: run.acc.accounted_until_ts)
    rig.sim.inject("door", "1")
    rig.release_oven()
    await runner.wait(rid)
    async with sessions() as s:
        events = list(await s.scalars(select(RunEventRow).where(RunEventRow.run_id == rid)))
    messages = await outbox(sessions)
    on_events_topic = [m for m in messages if m["topic"].endswith(f"/runs/{rid}/events")]
    assert len(on_events_topic) >= len(events) > 5
    assert len({m["id"] for m in messages}) == len(messages)
    assert sum(1 for m in messages if m["topic"].endswith("/alarms")) == 1


async def test_pullouts_give_specimens_their_aging_hours(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    ids = ["P1", "P2", "P3", "P4"]
    await add_specimens(sessions, ids)
    runner = runner_for(rig, oven, recorder, sessions)
    rid = await runner.start(AgingPlan(target_h=20, pullouts_h=(10, 20)), ids)
    await runner.wait(rid)
    first = await record_pullout(sessions, rid, None, rig.clock.now(), "ana")
    assert first.specimen_ids == ["P1", "P2"] and first.planned_h == 10.0
    second = await record_pullout(sessions, rid, ["P4"], rig.clock.now(), "ana")
    assert second.in_tolerance_h == pytest.approx(20.0)
    with pytest.raises(AgingError, match="not in the oven"):
        await record_pullout(sessions, rid, ["P1"], rig.clock.now())
    async with sessions() as s:
        states = {sp.id: (sp.state, sp.aging_hours, sp.aging_run_id)
                  for sp in await s.scalars(select(Specimen))}
    assert states["P1"] == ("PULLED", pytest.approx(20.0), rid)
    assert states["P3"][0] == "AGING"
    report = await status(sessions, rid)
    assert [p["specimens"] for p in report["pullouts"]] == [["P1", "P2"], ["P4"]]
    assert report["pullouts_due"] == [{"planned_h": 20.0, "specimens": ["P3"]}]


async def test_a_stopped_service_resumes_and_back_fills_from_the_oven_log(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # the service goes down once the run has accounted 25 h, not later
    rid = await runner.start(AgingPlan(target_h=100, pullouts_h=(50, 100)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 25 * HOUR, lambda: run.acc.accounted_until_ts)
    await runner.stop()  # the service goes down; the run stays RUNNING
    rig.release_oven()
    async with sessions() as s:
        row = await s.get(AgingRunRow, rid)
        assert row is not None and row.status == "RUNNING"
        stopped_at = row.in_tolerance_s / HOUR
    await rig.clock.sleep(50 * HOUR)  # nobody watches the oven
    rig.sim.setpoint_c = 120.0  # and someone turned the knob just now
    again = runner_for(rig, oven, recorder, sessions)
    assert await again.resume_all() == [rid]
    await again.wait(rid)
    assert rig.sim.setpoint_c == 150.0
    async with sessions() as s:
        notes = [e.data for e in await s.scalars(
            select(RunEventRow).where(RunEventRow.run_id == rid))
            if e.data.get("what") == "setpoint_restored"]
    assert notes == [{"what": "setpoint_restored", "found_c": 120.0, "setpoint_c": 150.0}]
    report = await status(sessions, rid)
    assert 20 < stopped_at < 40
    assert report["status"] == "DONE" and report["resumes"] == 1
    assert report["unmonitored_h"] == 0.0  # the whole gap came from the oven's log
    assert report["in_tolerance_h"] == pytest.approx(100.0)
    assert_accounts_every_hour(report)


async def test_log_holes_and_garbled_lines_are_unmonitored_never_invented(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # faults at hours 5 and 10 of the oven's time, before the end
    rid = await runner.start(AgingPlan(target_h=40, pullouts_h=(40,)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 5 * HOUR, lambda: run.acc.accounted_until_ts)
    rig.sim.inject("log_holes", "2")
    await rig.run_oven_to(run.acc.started_ts + 10 * HOUR, lambda: run.acc.accounted_until_ts)
    await rig.release_oven_with_a_row_waiting()
    rig.sim.inject("garble", "3")  # the next page has rows: they are garbled
    await runner.wait(rid)
    report = await status(sessions, rid)
    assert report["status"] == "DONE"
    # two hours lost by the logger (+ at most two rows around the swapped pair)
    assert 2.0 <= report["unmonitored_h"] <= 2.0 + 4 / 60
    assert report["rows_out_of_order"] >= 1
    assert_accounts_every_hour(report)


async def test_a_setpoint_outside_the_oven_range_starts_nothing(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    with pytest.raises(InstrumentCommandError, match="outside"):
        await runner.start(AgingPlan(setpoint_c=350, pullouts_h=()), ["S1"])
    with pytest.raises(AgingError, match="unknown specimen"):
        await runner.start(AgingPlan(), ["NOPE"])
    async with sessions() as s:
        assert list(await s.scalars(select(AgingRunRow))) == []
        specimen = await s.get(Specimen, "S1")
        assert specimen is not None and specimen.state == "AS_MADE"


async def test_an_oven_that_answers_nonsense_leaves_the_run_going(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # faults at hours 5 and 10 of the oven's time, before the end
    rid = await runner.start(AgingPlan(target_h=60, pullouts_h=(60,)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 5 * HOUR, lambda: run.acc.accounted_until_ts)
    rig.sim.inject("stall")  # the oven hangs until the run's link has timed out
    await until(lambda: run.errors_seen >= 1, "the run never saw the oven hang")
    rig.sim.faults.clear()
    await rig.run_oven_to(run.acc.started_ts + 10 * HOUR, lambda: run.acc.accounted_until_ts)
    rig.sim.inject("drop")
    rig.release_oven()
    await runner.wait(rid)
    report = await status(sessions, rid)
    assert report["status"] == "DONE" and report["unmonitored_h"] == 0.0
    assert runner.runs[rid].errors_seen >= 1
    assert_accounts_every_hour(report)


async def test_a_log_page_garbled_on_the_line_is_asked_again_not_lost(
    rig: OvenRig, oven: AgingOven, recorder: DbRecorder, sessions: Any
) -> None:
    await add_specimens(sessions, ["S1"])
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # the garbled page comes at hour 5 of the oven's time, not after the end
    rid = await runner.start(AgingPlan(target_h=30, pullouts_h=(30,)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 5 * HOUR, lambda: run.acc.accounted_until_ts)
    await rig.release_oven_with_a_row_waiting()
    rig.sim.inject("garble", "2")  # the next page has rows: it and its retry are garbled
    await runner.wait(rid)
    report = await status(sessions, rid)
    assert report["unmonitored_h"] == 0.0 and report["in_tolerance_h"] == pytest.approx(30)
    async with sessions() as s:
        notes = [e.data.get("what") for e in await s.scalars(
            select(RunEventRow).where(RunEventRow.run_id == rid))]
    assert notes.count("oven_log_damaged") == 1


async def test_a_locked_database_delays_the_record_but_loses_no_hour(
    rig: OvenRig, oven: AgingOven, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_s=0.02)
    await create_all(engine)
    sessions = session_factory(engine)
    await add_specimens(sessions, ["S1"])
    recorder = DbRecorder(sessions, None, clock=rig.clock, retry_for_s=0.05)
    runner = runner_for(rig, oven, recorder, sessions)
    rig.freeze_oven()  # the lock is taken at hour 50 of the oven's time, before the end
    rid = await runner.start(AgingPlan(target_h=300, pullouts_h=(300,)), ["S1"])
    run = runner.runs[rid]
    await rig.run_oven_to(run.acc.started_ts + 50 * HOUR, lambda: run.acc.accounted_until_ts)
    blocker = sqlite3.connect(path, timeout=0.01)
    # Another writer takes the lock; a run that checkpoints may hold it: retry until free.
    for _ in range(500):
        try:
            blocker.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError:
            await asyncio.sleep(0.002)
    else:
        pytest.fail("could not take the write lock to block the aging run")
    rig.release_oven()
    # Held until the run has failed to record (it goes on accounting in memory).
    await until(lambda: run.errors_seen >= 1, "the run never met the locked database")
    blocker.rollback()
    blocker.close()
    await runner.wait(rid)
    report = await status(sessions, rid)
    await engine.dispose()
    assert runner.runs[rid].errors_seen >= 1
    assert report["status"] == "DONE" and report["unmonitored_h"] == 0.0
    assert report["in_tolerance_h"] == pytest.approx(300.0)
    assert_accounts_every_hour(report)
