"""Acceptance of the Modbus oven: a station configured with the Modbus oven simulator
(RTU over a pty) ages specimens 1000 h at 100 000× to DONE; stopped (or SIGKILLed) at about
400 h and started again 50 simulated hours later, the run counts the outage as unmonitored
(the controller keeps no log to fill it from) and its record says so."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from daq.clock import SimClock
from daq.config import InstrumentConfig, Settings, load_settings
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
DAQ = str(Path(sys.executable).with_name("daq"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_the_gap(stopped: AgingRunRow, final: AgingRunRow, run: Run | None,
                  every_gap: list[dict[str, object]], restarting_ts: float, seen_ts: float
                  ) -> float:
    """The verdicts both tests share; returns the outage in hours."""
    stopped_h = stopped.in_tolerance_s / HOUR
    last_seen_ts = stopped.accounted_until_ts  # the station's last reading of the oven
    # "About 400 h": the stop comes after the 400 h checkpoint; at 100 000× each real
    # second of a loaded machine's stop is another 28 h, so the bound is loose.
    assert 395 <= stopped_h <= 450
    assert run is not None and run.status == "DONE" and run.ended_ts is not None
    assert final.resumes == 1
    assert final.in_tolerance_s / HOUR == pytest.approx(1000.0, abs=1e-6)
    # By hand: the station's last reading before the stop and its first after the restart
    # (which came after we started it, and before we saw it noted).
    # The outage is the one gap noted because the station was not running. On a machine
    # so loaded that the station's loop stalls for over a second (scripts/stress), the
    # station truly did not watch the oven then either: such a gap is noted too, with
    # its own reason, and counted; so unmonitored is the sum of the noted gaps.
    [gap] = [g for g in every_gap if "the station was not running" in str(g["message"])]
    first_seen_ts = float(str(gap["to_ts"]))
    assert float(str(gap["from_ts"])) == last_seen_ts
    assert restarting_ts <= first_seen_ts <= seen_ts
    outage_h = (first_seen_ts - last_seen_ts) / HOUR
    assert outage_h >= 50.0
    noted_h = sum((float(str(g["to_ts"])) - float(str(g["from_ts"]))) / HOUR for g in every_gap)
    assert final.unmonitored_s / HOUR == pytest.approx(noted_h, abs=0.1)
    assert final.unmonitored_s / HOUR >= outage_h - 0.1
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
    return outage_h


async def restart_and_finish(settings: Settings, run_id: str, clock: SimClock
                             ) -> tuple[AgingRunRow, Run | None, list[dict[str, object]],
                                        float]:
    """Start the station again (as `daq run` does) and let it finish the run: the final
    row, the run, its gap notes and the clock when the gap was first seen noted."""
    async with Lab(settings) as lab2, background_services(lab2) as bg:
        assert bg.resumed_aging_runs == [run_id]
        gaps: list[dict[str, object]] = []
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
    return final, run, every_gap, seen_ts


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
        await clock.sleep_until(stopped.accounted_until_ts + 50 * HOUR)  # down ≥ 50 h
        restarting_ts = clock.now()
        final, run, every_gap, seen_ts = await restart_and_finish(settings, run_id, clock)
    finally:
        await server.stop()
    check_the_gap(stopped, final, run, every_gap, restarting_ts, seen_ts)


@pytest.mark.slow
@pytest.mark.timing
async def test_killed_at_400_h_and_restarted_50_h_later_the_gap_is_unmonitored(
    tmp_path: Path,
) -> None:
    # `daq aging start` runs the station in its own process; SIGKILL leaves the run at its
    # last checkpoint (readings after it die with the process, and count unmonitored too).
    origin = time.time()
    clock = SimClock(scale=SCALE, origin=origin)
    sim = OvenSim(Clock(SCALE, origin))
    server = ModbusRtuServer(sim, link=tmp_path / "oven-modbus")
    port = await server.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}"
    config = tmp_path / "daq.toml"
    config.write_text(f"""
embedded_mqtt_port = 0
mqtt_prefix = "lamina/test-{secrets.token_hex(4)}"

[instruments.oven1]
driver = "aging_oven_modbus"
resource = "{port}"
poll_interval_s = 0.5
""", encoding="utf-8")
    settings = load_settings(config, database_url=url, time_scale=SCALE, time_origin=origin)
    env = {**os.environ, **clock.env(), "DAQ_DATABASE_URL": url,
           "DAQ_STATION_URL": f"http://127.0.0.1:{free_port()}"}  # no station answers
    env.pop("DAQ_CONFIG", None)
    args = [DAQ, "aging", "start", "--config", str(config), "--json", "--operator", "ana",
            "--hours", "1000"]
    for sid in SPECIMENS:
        args += ["--specimen", sid]
    async with Lab(settings) as lab:  # only to make the database and its specimens
        await add_specimens(lab.sessions, SPECIMENS)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                            stderr=subprocess.PIPE)
    try:
        async with asyncio.timeout(HANG_GUARD_S * 2):
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                async with lab.sessions() as s:
                    row = (await s.scalars(select(AgingRunRow))).first()
                if row is not None and row.in_tolerance_s >= 400 * HOUR:
                    break
                await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        async with lab.sessions() as s:
            stopped = (await s.scalars(select(AgingRunRow))).first()
        assert stopped is not None and stopped.status == "RUNNING"
        await clock.sleep_until(stopped.accounted_until_ts + 50 * HOUR)  # down ≥ 50 h
        restarting_ts = clock.now()
        final, run, every_gap, seen_ts = await restart_and_finish(settings, stopped.id,
                                                                  clock)
    finally:
        if proc.poll() is None:
            proc.kill()
        await server.stop()
    check_the_gap(stopped, final, run, every_gap, restarting_ts, seen_ts)
