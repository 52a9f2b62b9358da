"""Acceptance: station A is SIGKILLed while station B on the same database has a live
run. A's restart closes only A's run as INTERRUPTED; B's run stays RUNNING and keeps
getting readings. Both stations call their press ``press1``, and both are listed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from daq.config import load_settings
from daq.station.lab import Lab
from daq.storage.models import Instrument, ReadingRow, Run
from tests.ownership.conftest import DAQ, daq_env, press_config, press_simulator
from tests.service.test_crash import read_line_matching

SCALE = 60.0
#: B's cycle: heating to 150 °C at 10 °C/min and a 20-min dwell, > 30 min simulated
#: (> 30 s real at 60×): live through A's kill and restart.
LONG_RECIPE = {"temperature_c": 150.0, "pressure_mpa": 1.0, "dwell_min": 20.0,
               "unload_temperature_c": 120.0}
QUICK_RECIPE = {"temperature_c": 150.0, "pressure_mpa": 1.0, "dwell_min": 5.0,
                "unload_temperature_c": 120.0}


async def _run(lab: Lab, run_id: str) -> Run:
    async with lab.sessions() as session:
        run = await session.get(Run, run_id, populate_existing=True)
    assert run is not None
    return run


async def _readings(lab: Lab, run_id: str) -> int:
    async with lab.sessions() as session:
        return int(await session.scalar(
            select(func.count(ReadingRow.id)).where(ReadingRow.run_id == run_id)) or 0)


async def _until(what: str, check: object, timeout_s: float = 60.0) -> None:
    """Wait for ``check()`` (an async predicate) to hold; the timeout is a hang guard."""
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def test_sigkill_of_station_a_leaves_station_b_run_untouched(
    db_url: str, tmp_path: Path,
) -> None:
    origin = time.time()
    with press_simulator(SCALE, origin) as press_a, press_simulator(SCALE, origin) as press_b:
        config_a = press_config(tmp_path / "a.toml", press_a)
        config_b = press_config(tmp_path / "b.toml", press_b)
        env = daq_env(db_url, "labA", DAQ_TIME_SCALE=str(SCALE), DAQ_TIME_ORIGIN=repr(origin))
        # A plain Popen (returns at once) so that the test can SIGKILL exactly this process.
        station_a = subprocess.Popen(  # noqa: ASYNC220
            [DAQ, "run", "--config", str(config_a), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            password = read_line_matching(station_a, r"with password (\S+)", 60).group(1)
            url = read_line_matching(station_a, r"Log in at (http://[^/ ]+)", 10).group(1)
            settings_b = load_settings(config_b, database_url=db_url, station="labB",
                                       mqtt_url="embedded", embedded_mqtt_port=0,
                                       time_scale=SCALE, time_origin=origin)
            async with Lab(settings_b) as lab_b:
                run_b = await lab_b.start_press_cycle(LONG_RECIPE, "bob")
                async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                    token = (await http.post("/api/auth/token", json={
                        "username": "admin", "password": password})).json()["access_token"]
                    reply = await http.post("/api/press/cycles", json={"recipe": QUICK_RECIPE},
                                            headers={"Authorization": f"Bearer {token}"})
                    assert reply.status_code == 201, reply.text
                    run_a = reply.json()["run_id"]

                async def a_is_live() -> bool:
                    async with lab_b.sessions() as session:
                        run = await session.get(Run, run_a, populate_existing=True)
                    return run is not None and run.status == "RUNNING" and run.phase is not None

                await _until("A's run live with a phase", a_is_live)
                assert (await _run(lab_b, run_a)).station == "labA"
                assert (await _run(lab_b, run_b)).station == "labB"
                station_a.send_signal(signal.SIGKILL)
                station_a.wait(10)

                # A restarts on the same database: its press claim's process is gone, so
                # it takes the press back at once; recovery closes A's run, not B's.
                settings_a = load_settings(config_a, database_url=db_url, station="labA",
                                           mqtt_url="embedded", embedded_mqtt_port=0,
                                           time_scale=SCALE, time_origin=origin)
                async with Lab(settings_a) as lab_a:
                    assert [r.run_id for r in lab_a.interrupted] == [run_a]
                    assert (await _run(lab_a, run_a)).status == "INTERRUPTED"
                    at_restart = await _readings(lab_a, run_b)
                    assert (await _run(lab_a, run_b)).status == "RUNNING"

                    async def b_still_recording() -> bool:
                        return await _readings(lab_b, run_b) > at_restart

                    await _until("B's run gets readings after A's restart", b_still_recording)
                    assert (await _run(lab_b, run_b)).status == "RUNNING"
                    assert run_b in [r.run_id for r in lab_b.active_runs()]
                    async with lab_a.sessions() as session:
                        rows = {(r.station, r.name) for r in await session.scalars(
                            select(Instrument))}
                    assert {("labA", "press1"), ("labB", "press1")} <= rows
                await lab_b.abort(run_b, "test")
        finally:
            if station_a.poll() is None:
                station_a.kill()
                station_a.wait(10)
