"""A `daq run` station in a process of its own, on PostgreSQL and Mosquitto, for the CLI
to go through from other processes; and how to run `daq` as an operator would."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import _pg_admin, _run_async, need_service
from tests.mqtt.helpers import clear_retained
from tests.service.test_crash import read_line_matching

DAQ = str(Path(sys.executable).with_name("daq"))
#: Simulated time of the station: slow enough that a cycle is still heating when the
#: test has seen it start (the heat alone is 17.5 simulated minutes, 17 s real).
SCALE = 60.0


@dataclass
class StationProcess:
    """A running `daq run` (simulated instruments): where it answers, its admin token,
    its MQTT prefix, the resources of its simulators, and an operator's login."""

    url: str
    admin_token: str
    prefix: str
    resources: dict[str, str]
    proc: subprocess.Popen[str]
    config_home: Path
    operator: str = "olga"
    operator_password: str = ""
    output: list[str] = field(default_factory=list)

    def client_env(self, **extra: str) -> dict[str, str]:
        """The environment of a `daq` command of the operator's, pointed at the station."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
        return {**env, "DAQ_STATION_URL": self.url, "XDG_CONFIG_HOME": str(self.config_home),
                "COLUMNS": "120", **extra}

    def admin(self) -> httpx.AsyncClient:
        """An HTTP client of the station, as admin."""
        return httpx.AsyncClient(base_url=self.url, timeout=15,
                                 headers={"Authorization": f"Bearer {self.admin_token}"})


def _drain(proc: subprocess.Popen[str], seen: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    """The session's PostgreSQL database with its schema emptied."""
    name = postgres_database.rsplit("/", 1)[1]
    _run_async(lambda: _pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public",
                                 database=name))
    return postgres_database


@pytest.fixture
async def station(pg_url: str, tmp_path: Path) -> AsyncIterator[StationProcess]:
    """`daq run` on PostgreSQL and Mosquitto with its simulators, and an operator
    ``olga`` created through the API."""
    need_service("127.0.0.1", 1883, "Mosquitto")
    prefix = f"lamina/cli-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
    env.update({"DAQ_DATABASE_URL": pg_url, "DAQ_MQTT_URL": "mqtt://127.0.0.1:1883",
                "DAQ_MQTT_PREFIX": prefix, "DAQ_TIME_SCALE": str(SCALE),
                "DAQ_STATION": f"cli-{secrets.token_hex(3)}",
                "DAQ_JOURNAL_DIR": str(tmp_path / "journal"), "COLUMNS": "200"})
    async with daq_run(tmp_path, env) as (proc, url, password, seen):
        async with httpx.AsyncClient(base_url=url, timeout=15) as http:
            reply = await http.post("/api/auth/token",
                                    json={"username": "admin", "password": password})
            admin_token = reply.json()["access_token"]
            as_admin = {"Authorization": f"Bearer {admin_token}"}
            made = await http.post("/api/users", json={"name": "olga", "role": "operator"},
                                   headers=as_admin)
            assert made.status_code == 201, made.text
            listed = (await http.get("/api/instruments", headers=as_admin)).json()
            resources = {i["name"]: i["resource"] for i in listed}
        try:
            yield StationProcess(url, admin_token, prefix, resources, proc,
                                 tmp_path / "config",
                                 operator_password=made.json()["password"], output=seen)
        finally:
            await clear_station_retained(prefix)


async def clear_station_retained(prefix: str) -> None:
    """Take away what a simulated station left retained on Mosquitto under ``prefix``."""
    await clear_retained(1883, prefix, ["service/status", *(
        f"instruments/{name}/status" for name in ("press1", "peel1", "oven1", "laser1"))])


@asynccontextmanager
async def daq_run(cwd: Path, env: dict[str, str]
                  ) -> AsyncIterator[tuple[subprocess.Popen[str], str, str, list[str]]]:
    """`daq run --port 0` in ``cwd``: the process, its URL, the admin password it printed,
    and every line it prints after (read on, so a full pipe never blocks it); stopped
    with SIGTERM on the way out (killed if it does not stop in 30 s)."""
    # A plain Popen: its announcement is read line by line, then drained in a thread.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [DAQ, "run", "--port", "0"], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        password = read_line_matching(proc, r"with password (\S+)", 60).group(1)
        url = read_line_matching(proc, r"Log in at (http://[^/ ]+)", 5).group(1)
        threading.Thread(target=_drain, args=(proc, seen), daemon=True).start()
        yield proc, url, password, seen
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def daq(*args: str, env: dict[str, str], stdin: bytes | None = None,
              cwd: Path | None = None) -> tuple[int, str, str]:
    """Run `daq` to its end: exit code, stdout, stderr."""
    child = await asyncio.create_subprocess_exec(
        DAQ, *args, env=env, cwd=cwd, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(stdin), 120)  # hang guard only
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def logged_in(station: StationProcess) -> dict[str, str]:
    """`daq login` as the station's operator; the environment that uses the token."""
    env = station.client_env()
    code, out, err = await daq("login", "--user", station.operator, "--password-stdin",
                               env=env, stdin=station.operator_password.encode() + b"\n")
    assert code == 0, out + err
    assert f"logged in to {station.url} as {station.operator} (operator)" in " ".join(
        out.split())
    return env


async def interrupt(cli: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Ctrl-C to a running `daq` command, as an operator presses it; how it ended: exit
    code, stdout, stderr (no traceback, and no in-process station: it went through the
    station under test)."""
    cli.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(cli.communicate(), 60)  # hang guard only
    assert cli.returncode is not None
    text = out.decode() + err.decode()
    assert "in-process" not in text and "Traceback" not in text, text
    return cli.returncode, out.decode(), err.decode()
