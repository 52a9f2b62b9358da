"""Acceptance: the service is SIGKILLed mid-dwell.

The press simulator runs in a process of its own (``python -m simulators press``), the
service in another (``daq run`` with a config naming that resource). A cycle is started
through the HTTP API; when the run reaches DWELL the service is killed with SIGKILL.
The press must reach SAFE by its own watchdog, the broker must publish the service's
last will, and after a restart the run must read INTERRUPTED with its stored readings
ending within one flush interval of the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from daq.config import Settings, load_settings
from daq.press.procedure import DEFAULT_WATCHDOG_S
from daq.station.lab import Lab
from daq.storage.models import Run
from tests.conftest import need_service
from tests.mqtt.helpers import Recorder, clear_retained
from tests.service.conftest import QUICK_RECIPE

SCALE = 300.0
FLUSH_S = 0.25
POLL_S = 0.1
#: Real seconds a batch commit may take on a loaded 2-core machine: the last committed
#: batch was started at most one flush interval (+ one poll spacing) before the kill and
#: may still have been in flight.
COMMIT_S = 0.15
#: Real seconds the service's cycle arms the press's watchdog for (PressCycle's rule).
WATCHDOG_S = max(DEFAULT_WATCHDOG_S, 4 * POLL_S)
#: The cycle of this test: a dwell (20 min = 4 s real) far longer than one flush.
RECIPE = {**QUICK_RECIPE, "dwell_min": 20.0}


def read_line_matching(
    proc: subprocess.Popen[str], pattern: str, timeout_s: float
) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(seen)}")


@pytest.fixture
def press_process() -> Iterator[tuple[str, float]]:
    """The press simulator in its own process: its resource and the shared time origin."""
    origin = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "press", "--time-scale", str(SCALE),
         "--time-origin", repr(origin), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        found = read_line_matching(proc, r"^press (\S+)", 15)
        yield found.group(1), origin
    finally:
        proc.terminate()
        proc.wait(5)


def query(resource: str, command: str) -> str:
    """One line exchanged with the simulator (a plain socket, nothing of ours)."""
    import socket

    _, host, port, _ = resource.split("::")
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(command.encode() + b"\n")
        return s.makefile().readline().strip()


def run_row(db: Path, run_id: str) -> tuple[str, str | None, float | None] | None:
    """The run's status, phase and last committed reading time (``None``: no row yet)."""
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        row = conn.execute("SELECT status, phase, last_reading_ts FROM runs WHERE id = ?",
                           (run_id,)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def dwell_started_ts(db: Path, run_id: str) -> float | None:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        row = conn.execute("SELECT ts FROM run_events WHERE run_id = ? AND kind = 'transition'"
                           " AND data LIKE '%DWELL%' ORDER BY id LIMIT 1", (run_id,)).fetchone()
    return None if row is None else float(row[0])


async def test_sigkill_mid_dwell_leaves_press_safe_and_run_interrupted(
    tmp_path: Path, press_process: tuple[str, float], prefix: str,
    make_settings: Callable[..., Settings],
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    resource, origin = press_process
    db = tmp_path / "station.db"
    config = tmp_path / "daq.toml"
    config.write_text(
        f'[instruments.press1]\ndriver = "lamination_press"\nresource = "{resource}"\n'
        f"poll_interval_s = {POLL_S}\n"
    )
    env = {
        **os.environ, "DAQ_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "DAQ_MQTT_URL": "mqtt://127.0.0.1:1883", "DAQ_MQTT_PREFIX": prefix,
        "DAQ_TIME_SCALE": str(SCALE), "DAQ_TIME_ORIGIN": repr(origin),
        "DAQ_READINGS_FLUSH_INTERVAL_S": str(FLUSH_S),
    }
    daq = Path(sys.executable).with_name("daq")
    # A plain Popen (returns at once) so that the test can SIGKILL exactly this process.
    service = subprocess.Popen(  # noqa: ASYNC220
        [str(daq), "run", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        login = read_line_matching(
            service, r"with password (\S+)", 30)
        password = login.group(1)
        url = read_line_matching(service, r"Log in at (http://[^/ ]+)", 5).group(1)
        async with Recorder(1883, f"{prefix}/service/status") as status_sub, \
                httpx.AsyncClient(base_url=url, timeout=10) as http:
            token = (await http.post("/api/auth/token", json={
                "username": "admin", "password": password})).json()["access_token"]
            reply = await http.post("/api/press/cycles", json={"recipe": RECIPE},
                                    headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 201, reply.text
            run_id = reply.json()["run_id"]
            # Kill once a batch of readings taken in the dwell is committed (the dwell
            # lasts 20 min = 4 s real, and a batch is due every FLUSH_S = 0.25 s; 30 s only
            # guards against a hang).
            deadline = time.monotonic() + 30
            while True:
                row = run_row(db, run_id)
                dwell_ts = dwell_started_ts(db, run_id)
                if row is not None and row[1] == "DWELL" and dwell_ts is not None \
                        and row[2] is not None and row[2] >= dwell_ts:
                    break
                assert time.monotonic() < deadline, f"no reading of the dwell stored: {row}"
                await asyncio.sleep(0.01)
            committed_ts = row[2]
            service.send_signal(signal.SIGKILL)
            killed_mono = time.monotonic()
            killed_ts = origin + (time.time() - origin) * SCALE
            service.wait(5)
            await status_sub.wait_for(
                lambda s: bool(s.messages) and s.messages[-1].payload == b"offline", 10)
        # Say nothing to the press for one watchdog period after the kill (the service's
        # last command came before it): any command before then would kick it; the first
        # one after finds it tripped.
        await asyncio.sleep(max(0.0, killed_mono + WATCHDOG_S - time.monotonic()))
        state = query(resource, "MEAS:ALL?").split(",")[-1]
        alarms = query(resource, "STAT:ALARM?")
        assert state == "SAFE" and "WATCHDOG" in alarms, (state, alarms)
        # Restart the station on the same database: the run is found INTERRUPTED.
        settings = load_settings(config, database_url=f"sqlite+aiosqlite:///{db}",
                                 mqtt_url="embedded", embedded_mqtt_port=0,
                                 time_scale=SCALE, time_origin=origin)
        async with Lab(settings) as lab:
            assert run_id in [r.run_id for r in lab.interrupted]
            async with lab.sessions() as session:
                run = await session.get(Run, run_id)
        assert run is not None and run.status == "INTERRUPTED" and run.phase == "DWELL"
        assert run.readings_stored > 0 and run.last_reading_ts is not None
        assert run.last_reading_ts >= committed_ts  # nothing committed before the kill lost
        gap_s = killed_ts - run.last_reading_ts
        print(f"kill → last stored reading: {gap_s:.1f} simulated s "
              f"({gap_s / SCALE:.3f} real s; flush interval {FLUSH_S} s), "
              f"{run.readings_stored} readings stored")
        assert 0 <= gap_s <= (FLUSH_S + POLL_S + COMMIT_S) * SCALE, (
            f"stored readings end {gap_s} simulated s before the kill")
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(5)
        await clear_retained(1883, prefix, ["service/status", "instruments/press1/status"])
