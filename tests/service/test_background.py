"""The serving station's background work: front-panel peels are captured with no
operator action, and an aging run left RUNNING by a stopped service is resumed."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sqlalchemy import select

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.config import Settings
from daq.station.background import background_services
from daq.station.lab import Lab
from daq.storage.models import Run, Sample, Specimen
from tests.aging.conftest import until


def settings_for(tmp_path: Path, scale: float) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", mqtt_url="embedded",
        embedded_mqtt_port=0, time_scale=scale, mqtt_prefix=f"lamina/test-{secrets.token_hex(4)}",
    )


async def wait_for_run(lab: Lab, kind: str, status: str, timeout_s: float) -> Run:
    async with asyncio.timeout(timeout_s):
        while True:
            async with lab.sessions() as session:
                run = (await session.scalars(
                    select(Run).where(Run.kind == kind, Run.status == status))).first()
            if run is not None:
                return run
            await asyncio.sleep(0.05)


async def test_the_serving_station_captures_a_front_panel_peel(tmp_path: Path) -> None:
    async with Lab(settings_for(tmp_path, 1200.0)) as lab, background_services(lab) as bg:
        assert bg.peel_watchers == ["peel1"]
        lab.simulators.instruments["peel"].handle("SIM:PANEL START")
        run = await wait_for_run(lab, "peel_test", "DONE", timeout_s=20)
        assert run.instrument == "peel1"


async def test_an_aging_run_left_running_is_resumed_when_the_station_serves(
    tmp_path: Path,
) -> None:
    async with Lab(settings_for(tmp_path, 100_000.0)) as lab:
        async with lab.sessions() as session, session.begin():
            session.add(Sample(id="EX1-T", material_key="EX1", material_name="Example 1",
                               adhesive_thickness_um=5.0, film_forms=True, created_ts=0.0))
            await session.flush()
            session.add(Specimen(id="EX1-T-G1", sample_id="EX1-T", width_mm=3.0,
                                 aging_hours=0.0, state="AS_MADE", created_ts=0.0))
        oven = lab.instruments["oven1"].driver
        first = AgingRunner(ovens={"oven1": oven}, clock=lab.clock, recorder=lab.recorder,
                            sessions=lab.sessions, bus=lab.bus)
        run_id = await first.start(AgingPlan(target_h=40, pullouts_h=(40,)), ["EX1-T-G1"])
        # Stop once 3 h are accounted. The oven and the run share this event loop and the
        # run reads at most one log page (LOG_PAGE_ROWS × LOG_INTERVAL_S = 8.3 h) per step
        # of it, so it is seen between 3 and 3 + 8.3 h, and stop() cancels it in that step:
        # a busy machine cannot let it reach its 40 h first.
        acc = first.runs[run_id].acc
        await until(lambda: acc.in_tolerance_h >= 3, "the run never accounted 3 h")
        assert not acc.completed
        await first.stop()  # as a service stop does: the run stays RUNNING
        async with lab.sessions() as session:
            run = await session.get(Run, run_id)
            assert run is not None and run.status == "RUNNING"
        async with background_services(lab) as bg:
            assert bg.resumed_aging_runs == [run_id]
            done = await wait_for_run(lab, "aging_run", "DONE", timeout_s=20)
        assert done.id == run_id
