"""A laser job recorded in the database (SQLite and PostgreSQL): run, job, holes, grade
linked to the sample, and the result in the MQTT outbox (QoS 1)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from daq.bus import Bus
from daq.clock import SimClock
from daq.laser.params import LaserJobParams
from daq.laser.procedure import LaserJob
from daq.laser.store import LaserJobStore, SampleInfo
from daq.storage.models import MqttOutbox, Run
from daq.storage.recorder import DbRecorder
from drivers.uv_laser import UvLaser
from tests.laser.conftest import SCALE, LaserRig


async def test_graded_job_is_stored_with_its_holes_and_published_via_outbox(
    rig: LaserRig, laser: UvLaser, sessions: Any
) -> None:
    clock = SimClock(scale=SCALE)
    store = LaserJobStore(sessions)
    await store.ensure_sample(SampleInfo("EX1-2026-009", "EX1", "Example 1", 5.0, True), 0.0)
    recorder = DbRecorder(sessions, Bus(), prefix="lamina/test-laser", clock=clock)
    job = LaserJob(laser, LaserJobParams("EX1-2026-009", n_holes=300), clock, recorder, Bus(),
                   store=store, instrument="laser1")
    result = await job.run()
    assert result.outcome == "DONE" and result.grade is not None
    stored = await store.job(job.run_id)
    assert stored is not None
    row, holes = stored
    assert (row.sample_id, row.grade, row.state) == ("EX1-2026-009", "O", "DONE")
    assert row.holes_done == row.holes_inspected == 300
    assert [h.hole_index for h in holes] == list(range(300))
    assert sum(h.grade == "O" for h in holes) >= 0.95 * 300
    # Nothing of simulation went over the laser's wire: the job speaks only the laser's
    # own commands (a simulated station tells its simulators through their side door).
    assert not [c for c in rig.sim.commands_seen if c.upper().startswith("SIM:")]
    async with sessions() as session:
        run = await session.get(Run, job.run_id)
        assert run is not None and run.status == "DONE" and run.kind == "laser_job"
        assert run.sample_id == "EX1-2026-009" and run.summary["grade"] == "O"
        outbox = (await session.scalars(select(MqttOutbox).order_by(MqttOutbox.id))).all()
    payloads = [json.loads(m.payload) for m in outbox]
    results = [p for p in payloads if p.get("kind") == "result"]
    # Our result event, then the recorder's close of the run (status + summary).
    assert [r["data"].get("grade") for r in results] == ["O", None]
    assert results[-1]["data"]["status"] == "DONE"
    assert results[-1]["data"]["summary"]["inspection"]["grade"] == "O"
    assert all(m.qos == 1 for m in outbox)
    assert outbox[-1].topic == f"lamina/test-laser/runs/{job.run_id}/events"


async def test_interlocked_job_is_stored_aborted_with_holes_done(
    rig: LaserRig, laser: UvLaser, sessions: Any
) -> None:
    clock = SimClock(scale=SCALE)
    store = LaserJobStore(sessions)
    await store.ensure_sample(SampleInfo("EX1-2026-010", "EX1", "Example 1", 5.0, True), 0.0)
    recorder = DbRecorder(sessions, Bus(), prefix="lamina/test-laser", clock=clock)
    job = LaserJob(laser, LaserJobParams("EX1-2026-010", n_holes=100_000), clock, recorder,
                   Bus(), store=store, poll_interval_s=0.01)

    def open_door(done: int, _total: int) -> None:
        if done >= 200:
            rig.sim.inject("enclosure")

    job.on_progress = open_door
    result = await job.run()
    assert result.outcome == "FAULTED"
    stored = await store.job(job.run_id)
    assert stored is not None
    row, holes = stored
    assert row.state == "ABORTED" and row.stop_cause == "interlock" and row.grade is None
    assert row.holes_done == result.holes_done >= 200
    assert 0 < len(holes) <= 1000
    async with sessions() as session:
        run = await session.get(Run, job.run_id)
        assert run is not None and run.status == "FAULTED" and "enclosure" in (run.reason or "")


async def test_unknown_sample_is_refused_before_the_laser_is_touched(
    rig: LaserRig, laser: UvLaser, sessions: Any
) -> None:
    clock = SimClock(scale=SCALE)
    job = LaserJob(laser, LaserJobParams("EX9-404"), clock,
                   DbRecorder(sessions, Bus(), clock=clock), Bus(),
                   store=LaserJobStore(sessions))
    result = await job.run()
    assert result.outcome == "FAULTED" and "not on record" in (result.reason or "")
    assert rig.sim.commands_seen == []


async def test_delta_grade_round_trips_on_both_backends(sessions: Any) -> None:
    from daq.laser.grading import grade_job
    from daq.laser.store import LaserJobRecord
    from daq.record import RunInfo
    from drivers.uv_laser import HoleResult

    clock = SimClock(scale=SCALE)
    store = LaserJobStore(sessions)
    await store.ensure_sample(SampleInfo("EX1-D", "EX1", "Example 1", 5.0, True), 0.0)
    recorder = DbRecorder(sessions, Bus(), clock=clock)
    await recorder.start_run(RunInfo("laser-d", "laser_job", "laser1", 1.0, sample_id="EX1-D"))
    holes = [HoleResult(i, 40.0, 33.0, i % 2 == 0) for i in range(20)]
    grade = grade_job(holes)
    assert grade.grade == "Δ"
    await store.save(LaserJobRecord("laser-d", "laser1", LaserJobParams("EX1-D", n_holes=20),
                                    "DONE", 20, 1.0, 2.0, grade=grade, holes=holes))
    stored = await store.job("laser-d")
    assert stored is not None
    row, rows = stored
    assert row.grade == "Δ" and row.holes_with_dross == 10
    assert [h.grade for h in rows[:2]] == ["Δ", "O"]
