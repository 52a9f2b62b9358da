"""/api/laser/jobs on a real station: a job drilled through the station's recorder and
database is listed and shown with its holes; viewers may read, anonymous may not."""

from __future__ import annotations

from pathlib import Path

from daq.api import create_app
from daq.laser.params import LaserJobParams
from daq.laser.procedure import LaserJob
from daq.laser.store import LaserJobStore, SampleInfo
from daq.station.lab import Lab
from drivers.uv_laser import UvLaser
from tests.api.conftest import Station, add_users, station_settings
from tests.laser.conftest import LaserRig


async def test_jobs_are_listed_and_shown_with_holes(
    rig: LaserRig, laser: UvLaser, tmp_path: Path
) -> None:
    async with Lab(station_settings(tmp_path, scale=100.0)) as lab:
        tokens, passwords = await add_users(lab)
        app = create_app(lab)
        async with app.router.lifespan_context(app):
            station = Station(lab, app, tokens, passwords)
            store = LaserJobStore(lab.sessions)
            for lot, key, um in (("EX1-A1", "EX1", 5.0), ("CMP1-A1", "CMP1", 15.0)):
                await store.ensure_sample(SampleInfo(lot, key, lot, um, True), lab.clock.now())
                job = LaserJob(laser, LaserJobParams(lot, n_holes=120), lab.clock, lab.recorder,
                               lab.bus, store=store)
                assert (await job.run()).outcome == "DONE"
            async with station.client() as anonymous:
                assert (await anonymous.get("/api/laser/jobs")).status_code == 401
            async with station.client("viewer") as viewer:
                jobs = (await viewer.get("/api/laser/jobs")).json()
                assert {(j["sample_id"], j["grade"]) for j in jobs} == {
                    ("EX1-A1", "O"), ("CMP1-A1", "X")
                }
                only_x = (await viewer.get("/api/laser/jobs", params={"grade": "X"})).json()
                assert [j["sample_id"] for j in only_x] == ["CMP1-A1"]
                detail = (await viewer.get(f"/api/laser/jobs/{only_x[0]['id']}")).json()
                assert len(detail["holes"]) == 120
                assert all(h["bottom_um"] == 0 and h["grade"] == "X" for h in detail["holes"])
                missing = await viewer.get("/api/laser/jobs/laser-000000000000")
                assert missing.status_code == 404
                bad = await viewer.get("/api/laser/jobs", params={"grade": "Z"})
                assert bad.status_code == 422
