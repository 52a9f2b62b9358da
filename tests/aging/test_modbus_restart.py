"""Acceptance of the Modbus oven: a station configured with the Modbus oven simulator
(RTU over a pty) ages specimens 1000 h at 100 000× to DONE; stopped at about 400 h and
started again 50 simulated hours later, the run counts the outage as unmonitored (the
controller keeps no log to fill it from) and its record says so."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from daq.clock import SimClock
from daq.config import InstrumentConfig, Settings
from daq.station.background import background_services
from daq.station.lab import Lab
from daq.storage.aging_models import AgingRunRow
from daq.storage.models import Run, RunEventRow
from simulators.clock import Clock
from simulators.oven import OvenSim
from simulators.oven_modbus import ModbusRtuServer
from tests.aging.conftest import HANG_GUARD_S, add_specimens

HOUR = 3600.0
SCALE = 100_000.0
SPECIMENS = ["M1", "M2", "M3"]


async def aging_row(lab: Lab, condition: Callable[[AgingRunRow], bool]) -> AgingRunRow:
    """The aging run's row once it meets ``condition`` (the guard only stops a hang)."""
    async with asyncio.timeout(HANG_GUARD_S * 2):
        while True:
            async with lab.sessions() as s:
                row = (await s.scalars(select(AgingRunRow))).first()
            if row is not None and condition(row):
                return row
            await asyncio.sleep(0.005)


async def notes(lab: Lab, run_id: str, what: str) -> list[dict[str, object]]:
    async with lab.sessions() as s:
        rows = await s.scalars(select(RunEventRow).where(RunEventRow.run_id == run_id))
        return [dict(e.data) for e in rows if e.data.get("what") == what]


@pytest.mark.slow
@pytest.mark.timing
async def test_stopped_at_400_h_and_restarted_50_h_later_the_gap_is_unmonitored(
    tmp_path: Path,
) -> None:
    origin = time.time()
    clock = SimClock(scale=SCALE, origin=origin)
    # The oven outlives the station: its own process in a lab, here its own server.
    sim = OvenSim(Clock(SCALE, origin))
    server = ModbusRtuServer(sim, link=tmp_path / "oven-modbus")
    port = await server.start()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", mqtt_url="embedded",
        embedded_mqtt_port=0, time_scale=SCALE, time_origin=origin,
        mqtt_prefix=f"lamina/test-{secrets.token_hex(4)}",
        instruments={"oven1": InstrumentConfig(driver="aging_oven_modbus", resource=port,
                                               poll_interval_s=0.5)})
    try:
        async with Lab(settings) as lab, background_services(lab):
            assert lab.instruments["oven1"].idn == "MODBUS-PID,slave 1,model 1500,firmware 1.20"
            await add_specimens(lab.sessions, SPECIMENS)
            run_id = await lab.run_engine.start(
                "aging_run", {"specimen_ids": SPECIMENS, "hours": 1000.0}, "ana", "test")
            await aging_row(lab, lambda r: r.in_tolerance_s >= 400 * HOUR)
        stopped = await aging_row(lab, lambda r: True)  # the checkpoint the stop left
        assert stopped.status == "RUNNING"
        stopped_h = stopped.in_tolerance_s / HOUR
        last_seen_ts = stopped.accounted_until_ts  # the station's last reading of the oven

        await clock.sleep_until(last_seen_ts + 50 * HOUR)  # the station is down ≥ 50 h
        restarting_ts = clock.now()
        async with Lab(settings) as lab2, background_services(lab2) as bg:
            assert bg.resumed_aging_runs == [run_id]
            gaps = []
            async with asyncio.timeout(HANG_GUARD_S):
                while not gaps:
                    gaps = await notes(lab2, run_id, "unmonitored_gap")
                    seen_ts = clock.now()
                    await asyncio.sleep(0.005)
            final = await aging_row(lab2, lambda r: r.status == "DONE")
            await lab2.recorder.settled()  # the run's own row follows through the journal
            async with lab2.sessions() as s:
                run = await s.get(Run, run_id)
            every_gap = await notes(lab2, run_id, "unmonitored_gap")
    finally:
        await server.stop()

    assert 395 <= stopped_h <= 420
    assert run is not None and run.status == "DONE" and run.ended_ts is not None
    assert final.resumes == 1
    assert final.in_tolerance_s / HOUR == pytest.approx(1000.0, abs=1e-6)
    # By hand: the station's last reading before the stop and its first after the restart
    # (which came after we started it, and before we saw it noted).
    [gap] = every_gap
    first_seen_ts = float(str(gap["to_ts"]))
    assert float(str(gap["from_ts"])) == last_seen_ts
    assert restarting_ts <= first_seen_ts <= seen_ts
    outage_h = (first_seen_ts - last_seen_ts) / HOUR
    assert outage_h >= 50.0
    assert final.unmonitored_s / HOUR == pytest.approx(outage_h, abs=0.1)
    elapsed_h = (run.ended_ts - run.started_ts) / HOUR
    accounted_h = (final.in_tolerance_s + final.out_of_tolerance_s + final.unmonitored_s) / HOUR
    assert accounted_h == pytest.approx(elapsed_h, abs=0.1)
    # The record says why: the controller keeps no log, and the station was down.
    from_h = (last_seen_ts - run.started_ts) / HOUR
    to_h = (first_seen_ts - run.started_ts) / HOUR
    message = str(gap["message"])
    assert message.startswith(
        f"oven keeps no log: gap {from_h:.1f}–{to_h:.1f} h unmonitored")
    assert "the station was not running" in message
