"""Read-only API panels of the other areas: peel tests and aging runs, as stored."""

from __future__ import annotations

from daq.record import RunInfo
from daq.storage.aging_models import AgingExcursionRow, AgingPulloutRow, AgingRunRow
from daq.storage.peel_models import PeelResultRow, PeelTestRow
from tests.api.conftest import Station


async def test_peel_tests_list_their_strength_and_aging_runs_their_excursions(
    station: Station,
) -> None:
    lab = station.lab
    t0 = lab.clock.now()
    await lab.recorder.start_run(RunInfo("peel-000000000001", "peel_test", "peel1", t0))
    await lab.recorder.start_run(RunInfo("aging-00000000001", "aging_run", "oven1", t0))
    await lab.recorder.settled()  # the journal stores the run rows before ours refer to them
    async with lab.sessions() as session:
        session.add(
            PeelTestRow(
                id="peel-000000000001", specimen_label="EX1-2026-001-S1", sample_id="EX1-2026-001",
                instrument="peel1", width_mm=3.0, speed_mm_per_min=50.0, angle_deg=90.0,
                status="DONE", started_ts=t0, ended_ts=t0 + 60, n_points=6000,
            )
        )
        session.add(
            AgingRunRow(
                id="aging-00000000001", oven="oven1", resource="ASRL/dev/pts/9::INSTR",
                setpoint_c=150.0, tolerance_c=3.0, target_h=1000.0, started_ts=t0,
                accounted_until_ts=t0 + 7200, in_tolerance_s=7000.0, out_of_tolerance_s=200.0,
                excursion_count=1,
            )
        )
        await session.flush()
        session.add(
            PeelResultRow(
                peel_test_id="peel-000000000001", sample_id="EX1-2026-001",
                peel_strength_n_per_cm=9.02, mean_force_n=2.706, min_force_n=2.5,
                max_force_n=2.9, sd_force_n=0.05, n_samples=4000, steady_start_mm=5.0,
                steady_end_mm=45.0, width_mm=3.0, computed_ts=t0 + 61,
            )
        )
        session.add(
            AgingExcursionRow(
                run_id="aging-00000000001", start_ts=t0 + 100, end_ts=t0 + 300,
                last_out_ts=t0 + 290, peak_deviation_c=4.2, peak_pv_c=154.2,
            )
        )
        session.add(
            AgingPulloutRow(
                run_id="aging-00000000001", ts=t0 + 3600, planned_h=1.0, in_tolerance_h=0.97,
                specimen_ids=["EX1-2026-001-S2"], operator="operator1",
            )
        )
        await session.commit()
    async with station.client("viewer") as viewer:
        tests = (await viewer.get("/api/peel-tests", params={"sample_id": "EX1-2026-001"})).json()
        assert [(t["id"], t["peel_strength_n_per_cm"]) for t in tests] == [
            ("peel-000000000001", 9.02)
        ]
        detail = (await viewer.get("/api/peel-tests/peel-000000000001")).json()
        assert detail["results"][0]["steady_start_mm"] == 5.0
        assert (await viewer.get("/api/peel-tests/nope")).status_code == 404
        runs = (await viewer.get("/api/aging-runs")).json()
        assert runs[0]["in_tolerance_s"] == 7000.0 and runs[0]["excursion_count"] == 1
        aging = (await viewer.get("/api/aging-runs/aging-00000000001")).json()
        assert aging["excursions"][0]["peak_pv_c"] == 154.2
        assert aging["pullouts"][0]["specimen_ids"] == ["EX1-2026-001-S2"]
        assert (await viewer.get("/api/aging-runs/nope")).status_code == 404
    async with station.client() as anon:
        assert (await anon.get("/api/peel-tests")).status_code == 401
