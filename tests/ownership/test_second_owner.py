"""A second owner of a station's instrument is refused, naming the holder: a second
``daq run`` configured with the same press, and ``daq press start --resource`` naming it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from daq.config import load_settings
from daq.station.lab import Lab
from tests.ownership.conftest import DAQ, daq_env, press_config, press_simulator

SCALE = 60.0
#: The CLI cycle of the second test runs on the simulator's clock at 600× (a 5-min dwell
#: is 0.5 s real).
CLI_SCALE = 600.0


async def _refusal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        DAQ, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 60)  # hang guard only
    assert child.returncode is not None
    return child.returncode, " ".join((out + err).decode().split())  # unwrapped


async def test_second_daq_run_with_the_same_press_is_refused_naming_the_holder(
    db_url: str, tmp_path: Path,
) -> None:
    origin = time.time()
    with press_simulator(SCALE, origin) as resource:
        config = press_config(tmp_path / "daq.toml", resource)
        first = load_settings(config, database_url=db_url, station="lab1",
                              mqtt_url="embedded", embedded_mqtt_port=0, time_scale=SCALE)
        async with Lab(first) as lab:
            assert lab.claims is not None and lab.claims.held
            code, text = await _refusal("run", "--config", str(config), "--port", "0",
                                        env=daq_env(db_url, "lab2"))
            assert code == 2, text
            assert "station lab2 not started: press1 (" in text
            assert "is held by station lab1 (host " in text and f"pid {lab.claims.pid})" in text
            assert "heartbeat " in text and " s ago" in text
            # The same station id started twice is refused just the same.
            code, text = await _refusal("run", "--config", str(config), "--port", "0",
                                        env=daq_env(db_url, "lab1"))
            assert code == 2 and "is held by station lab1" in text, text
            assert lab.pollers["press1"].polls > 0  # the holder kept its press throughout


async def test_cli_naming_a_held_resource_is_refused_naming_the_holder(
    db_url: str, tmp_path: Path,
) -> None:
    origin = time.time()
    with press_simulator(CLI_SCALE, origin) as resource:
        config = press_config(tmp_path / "daq.toml", resource)
        settings = load_settings(config, database_url=db_url, station="lab1",
                                 mqtt_url="embedded", embedded_mqtt_port=0, time_scale=CLI_SCALE,
                                 time_origin=origin)
        async with Lab(settings) as lab:
            assert lab.claims is not None
            spelled = resource.replace("TCPIP::", "tcpip0::")  # same press, other spelling
            code, text = await _refusal(
                "press", "start", "--temp", "150", "--pressure", "1", "--dwell", "5",
                "--time-scale", str(CLI_SCALE), "--resource", spelled,
                env=daq_env(db_url, "bench"))
            assert code == 2, text
            assert "is held by station lab1" in text, text
            assert not lab.active_runs()
        # With the station gone its claim is released: the same command now runs.
        code, text = await _refusal(
            "press", "start", "--temp", "150", "--pressure", "1", "--dwell", "5",
            "--unload", "120", "--time-scale", str(CLI_SCALE), "--time-origin", repr(origin),
            "--resource", resource,
            env=daq_env(db_url, "bench"))
        assert code == 0, text
