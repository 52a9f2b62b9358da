"""Every kind of run starts through ``POST /api/runs`` and the station's run engine, and
reaches DONE with its record; a busy instrument is refused naming its holder by every
route; bad parameters are refused naming the field and its range; every start is
audited with its user."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from daq.storage.models import AuditLog, Run, RunEventRow
from tests.api.conftest import Station

#: 160 °C / 5 min at 600×: heat from 25 °C at 10 °C/min (13.5 min), dwell 5, cool to
#: 60 °C: about 40 simulated minutes, 4 s real. The hang guard is 20× that.
SHORT_PRESS = {"temperature_c": 160, "dwell_min": 5, "name": "short"}
HANG_GUARD_S = 90.0


async def start(op: httpx.AsyncClient, kind: str, params: dict[str, Any]) -> str:
    answer = await op.post("/api/runs", json={"kind": kind, "params": params})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["kind"] == kind
    return str(body["run_id"])


async def stored_run(station: Station, run_id: str) -> Run:
    async with station.lab.sessions() as session:
        run = await session.get(Run, run_id)
    assert run is not None
    return run


async def audit_rows(station: Station) -> list[AuditLog]:
    async with station.lab.sessions() as session:
        return list((await session.scalars(select(AuditLog).order_by(AuditLog.id))).all())


async def register_lot(op: httpx.AsyncClient, lot: str, material: str) -> None:
    answer = await op.post("/api/samples", json={"id": lot, "material_key": material})
    assert answer.status_code == 201, answer.text


async def register_specimen(op: httpx.AsyncClient, specimen: str, lot: str) -> None:
    answer = await op.post("/api/specimens", json={"id": specimen, "sample_id": lot})
    assert answer.status_code == 201, answer.text


async def test_a_press_cycle_started_by_post_runs_ends_done_with_its_record_and_audit(
    serving: Station,
) -> None:
    async with serving.client("operator") as op:
        run_id = await start(op, "press_cycle", {**SHORT_PRESS, "sample_id": "EX1-X"})
        live = (await op.get("/api/runs/active")).json()
        assert [(r["run_id"], r["kind"], r["instruments"], r["operator"]) for r in live] == [
            (run_id, "press_cycle", ["press1"], "operator1")]
        outcome = await serving.lab.run_engine.wait(run_id, HANG_GUARD_S)
        assert outcome == "DONE"
        detail = (await op.get(f"/api/runs/{run_id}")).json()
    assert detail["status"] == "DONE" and detail["operator"] == "operator1"
    assert detail["recipe"]["temperature_c"] == 160 and detail["sample_id"] == "EX1-X"
    kinds = [e["kind"] for e in detail["events"]]
    assert "transition" in kinds and kinds[-1] == "result"
    rows = [a for a in await audit_rows(serving) if a.action == "run.start"]
    assert [(a.user, a.target, a.result) for a in rows] == [("operator1", run_id, "ok")]


async def test_a_busy_press_is_refused_naming_the_holder_by_both_routes(
    serving: Station,
) -> None:
    async with serving.client("operator") as op:
        holder = await start(op, "press_cycle", SHORT_PRESS)
        again = await op.post("/api/runs", json={"kind": "press_cycle", "params": SHORT_PRESS})
        alias = await op.post("/api/press/cycles", json={"recipe_name": "default"})
        for refused in (again, alias):
            assert refused.status_code == 409
            detail = refused.json()["detail"]
            assert holder in detail and "press_cycle" in detail and "operator1" in detail
            assert detail.startswith("press1 is busy")
        assert await serving.lab.run_engine.abort(holder, "operator1")
        # The press is free again once the holder ended, and reset (an abort latches it
        # SAFE, and a start against a latched press is refused): the alias route starts.
        reset = await op.post("/api/instruments/press1/reset")
        assert reset.status_code == 200, reset.text
        freed = await op.post("/api/press/cycles", json={"recipe": SHORT_PRESS})
        assert freed.status_code == 201
        await serving.lab.run_engine.abort(freed.json()["run_id"], "operator1")
    refusals = [(a.user, a.action, a.result) for a in await audit_rows(serving)
                if a.result == "refused 409"]
    assert refusals == [("operator1", "run.start", "refused 409"),
                        ("operator1", "press.start", "refused 409")]


async def test_bad_parameters_are_refused_naming_the_field_and_range(serving: Station) -> None:
    async with serving.client("operator") as op:
        hot = await op.post("/api/runs", json={"kind": "press_cycle",
                                               "params": {"temperature_c": 250}})
        assert hot.status_code == 422
        assert ("press_cycle.params.temperature_c: temperature 250 °C is outside the "
                "allowed window 150–200 °C") in hot.json()["message"]
        holes = await op.post("/api/runs", json={"kind": "laser_job",
                                                 "params": {"sample_id": "EX1-A",
                                                            "n_holes": 0}})
        assert holes.status_code == 422
        assert "laser_job.params.n_holes" in holes.json()["message"]
        assert "greater than or equal to 1" in holes.json()["message"]
        wide = await op.post("/api/runs", json={"kind": "peel_test",
                                                "params": {"specimen_id": "S1",
                                                           "width_mm": 30}})
        assert wide.status_code == 422
        assert "peel_test.params.width_mm" in wide.json()["message"]
        assert "25" in wide.json()["message"]
        unknown = await op.post("/api/runs", json={"kind": "bake", "params": {}})
        assert unknown.status_code == 422
        for kind in ("press_cycle", "peel_test", "aging_run", "laser_job", "campaign"):
            assert kind in unknown.json()["message"]
        nobody = await op.post("/api/runs", json={"kind": "peel_test",
                                                  "params": {"specimen_id": "NOPE-1"}})
        assert nobody.status_code == 422
        assert "NOPE-1" in nobody.json()["message"] and "not on record" in (
            nobody.json()["message"])
    assert serving.lab.run_engine.active() == []
    async with serving.lab.sessions() as session:
        assert (await session.scalars(select(Run))).all() == []


async def test_samples_laminates_and_specimens_are_registered_once_each(
    serving: Station,
) -> None:
    async with serving.client("operator") as op:
        sample = await op.post("/api/samples", json={"id": "EX1-R-001", "material_key": "ex1"})
        assert sample.status_code == 201
        assert (sample.json()["material_key"], sample.json()["adhesive_thickness_um"]) == (
            "EX1", 5.0)
        thick = await op.post("/api/samples", json={"id": "CMP1-R-001", "material_key": "CMP1",
                                                    "adhesive_thickness_um": 15})
        assert thick.status_code == 201
        twice = await op.post("/api/samples", json={"id": "EX1-R-001", "material_key": "EX1"})
        assert twice.status_code == 409
        odd = await op.post("/api/samples", json={"id": "X-1", "material_key": "EX9"})
        assert odd.status_code == 422 and "material_key" in odd.json()["message"]
        lam = await op.post("/api/laminates", json={"id": "EX1-R-001-L", "sample_id":
                                                    "EX1-R-001"})
        assert lam.status_code == 201
        orphan = await op.post("/api/laminates", json={"id": "L2", "sample_id": "NONE"})
        assert orphan.status_code == 422 and "sample_id" in orphan.json()["message"]
        cut = await op.post("/api/specimens", json={"id": "EX1-R-001-A1",
                                                    "laminate_id": "EX1-R-001-L"})
        assert cut.status_code == 201
        assert (cut.json()["sample_id"], cut.json()["state"], cut.json()["width_mm"]) == (
            "EX1-R-001", "AS_MADE", 3.0)
        loose = await op.post("/api/specimens", json={"id": "S-9", "sample_id": "NONE"})
        assert loose.status_code == 422
        assert (await op.post("/api/specimens", json={"id": "EX1-R-001-A1",
                                                      "sample_id": "EX1-R-001"})
                ).status_code == 409
        laminates = (await op.get("/api/laminates?sample_id=EX1-R-001")).json()
        assert [x["id"] for x in laminates] == ["EX1-R-001-L"]
    audited = [(a.user, a.action, a.result) for a in await audit_rows(serving)]
    assert ("operator1", "sample.register", "ok") in audited
    assert ("operator1", "sample.register", "refused 409") in audited
    assert ("operator1", "laminate.register", "ok") in audited
    assert ("operator1", "specimen.register", "refused 422") in audited


async def test_a_laser_job_started_by_post_runs_is_graded(serving: Station) -> None:
    async with serving.client("operator") as op:
        await register_lot(op, "EX1-L-001", "EX1")
        run_id = await start(op, "laser_job", {"sample_id": "EX1-L-001", "n_holes": 100})
        # 100 holes at 100 holes/s: one simulated second of drilling.
        assert await serving.lab.run_engine.wait(run_id, HANG_GUARD_S) == "DONE"
        job = (await op.get(f"/api/laser/jobs/{run_id}")).json()
    assert job["state"] == "DONE" and job["holes_done"] == 100
    assert job["grade"] in ("O", "Δ", "X")
    run = await stored_run(serving, run_id)
    assert (run.kind, run.status, run.operator) == ("laser_job", "DONE", "operator1")


async def test_a_peel_test_pauses_the_front_panel_watcher_and_resumes_it(
    serving: Station,
) -> None:
    engine = serving.lab.run_engine
    async with serving.client("operator") as op:
        await register_lot(op, "EX1-P-001", "EX1")
        await register_specimen(op, "EX1-P-001-A1", "EX1-P-001")
        run_id = await start(op, "peel_test", {"specimen_id": "EX1-P-001-A1"})
        assert "peel1" in engine._paused  # the watcher does not read while the test does
        assert await engine.wait(run_id, HANG_GUARD_S) == "DONE"
        test = (await op.get(f"/api/peel-tests/{run_id}")).json()
    assert test["status"] == "DONE" and test["specimen_id"] == "EX1-P-001-A1"
    assert test["peel_strength_n_per_cm"] is not None and test["n_points"] > 0
    assert "peel1" not in engine._paused
    # Watching again: a front-panel start is captured as a run of its own.
    serving.lab.simulators.instruments["peel"].handle("SIM:PANEL START")
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            async with serving.lab.sessions() as session:
                runs = (await session.scalars(select(Run).where(
                    Run.kind == "peel_test", Run.status == "DONE"))).all()
            if len(runs) == 2:
                break
            await asyncio.sleep(0.05)


async def test_an_aging_run_started_by_post_runs_accounts_its_hours(serving: Station) -> None:
    serving.lab.set_time_scale(100_000.0)  # 10 h in about 0.4 s
    async with serving.client("operator") as op:
        await register_lot(op, "EX1-G-001", "EX1")
        await register_specimen(op, "EX1-G-001-G1", "EX1-G-001")
        run_id = await start(op, "aging_run", {"specimen_ids": ["EX1-G-001-G1"],
                                               "hours": 10})
        busy = await op.post("/api/runs", json={"kind": "aging_run", "params": {
            "specimen_ids": ["EX1-G-001-G1"], "hours": 10}})
        assert busy.status_code == 409 and run_id in busy.json()["detail"]
        assert await serving.lab.run_engine.wait(run_id, HANG_GUARD_S) == "DONE"
        aging = (await op.get(f"/api/aging-runs/{run_id}")).json()
    assert aging["status"] == "DONE" and aging["target_h"] == 10
    assert aging["in_tolerance_s"] >= 10 * 3600
    run = await stored_run(serving, run_id)
    assert (run.status, run.operator) == ("DONE", "operator1")


async def test_an_aging_run_is_aborted_through_the_engine(serving: Station) -> None:
    serving.lab.set_time_scale(600.0)  # 1000 h would take days: it is still running
    async with serving.client("operator") as op:
        await register_lot(op, "EX1-G-002", "EX1")
        await register_specimen(op, "EX1-G-002-G1", "EX1-G-002")
        run_id = await start(op, "aging_run", {"specimen_ids": ["EX1-G-002-G1"]})
        aborted = await op.post(f"/api/runs/{run_id}/abort")
        assert aborted.status_code == 202 and aborted.json()["status"] == "ABORTED"
    run = await stored_run(serving, run_id)
    assert run.status == "ABORTED" and "operator1" in (run.reason or "")


async def test_specimens_are_pulled_out_of_a_running_aging_run_by_an_operator(
    serving: Station,
) -> None:
    serving.lab.set_time_scale(600.0)  # 1000 h would take days: it is still running
    async with serving.client("operator") as op, serving.client("viewer") as viewer:
        await register_lot(op, "EX1-G-003", "EX1")
        for sid in ("EX1-G-003-G1", "EX1-G-003-G2"):
            await register_specimen(op, sid, "EX1-G-003")
        run_id = await start(op, "aging_run", {"specimen_ids": ["EX1-G-003-G1",
                                                                "EX1-G-003-G2"]})
        pull = f"/api/aging-runs/{run_id}/pullouts"
        early = {"specimen_ids": ["EX1-G-003-G1"]}
        assert (await viewer.post(pull, json=early)).status_code == 403
        # Nothing named and nothing due yet (the first pull-out is at 250 h).
        none_due = await op.post(pull, json={})
        assert none_due.status_code == 409 and "no pull-out" in none_due.json()["detail"]
        taken = await op.post(pull, json=early)
        assert taken.status_code == 201, taken.text
        body = taken.json()
        assert body["run_id"] == run_id and body["specimen_ids"] == ["EX1-G-003-G1"]
        assert body["operator"] == "operator1" and body["in_tolerance_h"] < 250
        again = await op.post(pull, json=early)
        assert again.status_code == 409 and "not in the oven" in again.json()["detail"]
        unknown = await op.post("/api/aging-runs/aging-nope/pullouts", json=early)
        assert unknown.status_code == 404
        status = (await viewer.get("/api/aging-runs/status")).json()
        assert status["run_id"] == run_id
        assert [(p["specimens"], p["operator"]) for p in status["pullouts"]] == [
            (["EX1-G-003-G1"], "operator1")]
        specimens = {s["id"]: s for s in status["specimens"]}
        assert specimens["EX1-G-003-G1"]["state"] == "PULLED"
        assert specimens["EX1-G-003-G1"]["aging_hours"] == round(body["in_tolerance_h"], 3)
        assert specimens["EX1-G-003-G2"]["state"] == "AGING"
        assert (await op.post(f"/api/runs/{run_id}/abort")).status_code == 202
    async with serving.lab.sessions() as session:
        notes = [e.data for e in (await session.scalars(select(RunEventRow).where(
            RunEventRow.run_id == run_id, RunEventRow.kind == "note"))).all()
            if e.data.get("what") == "pullout"]
    assert [(n["specimens"], n["operator"]) for n in notes] == [(["EX1-G-003-G1"], "operator1")]
    pulls = [(a.user, a.result) for a in await audit_rows(serving) if a.action == "aging.pullout"]
    assert pulls == [("viewer1", "denied 403"), ("operator1", "refused 409"),
                     ("operator1", "ok"), ("operator1", "refused 409"),
                     ("operator1", "refused 404")]


async def test_a_campaign_holds_its_instruments_and_runs_its_steps_inside(
    serving: Station,
) -> None:
    campaign = {
        "campaign": {"id": "api-small", "operator": "ignored"},
        "samples": [{"lot": "EX1-C-001", "material": "EX1", "adhesive_thickness_um": 5.0}],
        "peel": {"specimens_per_condition": 1},
        "aging": {"hours": 10},
        "laser": {"holes": 100},
        "time": {"press_scale": 1200, "peel_scale": 1200, "aging_scale": 100_000,
                 "laser_scale": 1200},
    }
    engine = serving.lab.run_engine
    async with serving.client("operator") as op:
        run_id = await start(op, "campaign", campaign)
        refused = await op.post("/api/runs", json={"kind": "press_cycle", "params": {}})
        assert refused.status_code == 409 and run_id in refused.json()["detail"]
        assert await engine.wait(run_id, 240) == "DONE"
    steps = [r for r in engine.runs.values() if r.parent == run_id]
    assert sorted({r.kind for r in steps}) == ["laser_job", "peel_test", "press_cycle"]
    assert all(r.outcome == "DONE" and r.operator == "operator1" for r in steps)
    run = await stored_run(serving, run_id)
    assert (run.kind, run.status, run.operator) == ("campaign", "DONE", "operator1")
    async with serving.lab.sessions() as session:
        events = (await session.scalars(select(RunEventRow).where(
            RunEventRow.run_id.in_([r.run_id for r in steps])))).all()
    assert events, "the campaign's steps left no record"
