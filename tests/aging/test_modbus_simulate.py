"""`daq simulate oven-modbus` (RTU on a pty) and `oven-modbus-tcp` print where they
serve, and the driver reaches the oven there; `all` still means the four serial/SCPI
simulators."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.aging_oven_modbus import AgingOvenModbus
from simulators.registry import expand

DAQ = str(Path(sys.executable).with_name("daq"))


@pytest.mark.parametrize(("args", "prefix"), [
    (["oven-modbus"], "/"),
    (["oven-modbus-tcp", "--port", "0"], "tcp://127.0.0.1:"),
])
async def test_daq_simulate_serves_a_modbus_oven(tmp_path: Path, args: list[str], prefix: str
                                                ) -> None:
    proc = await asyncio.create_subprocess_exec(
        DAQ, "simulate", *args, "--time-scale", "1000", "--link-dir", str(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        assert line[0] == args[0] and line[1].startswith(prefix)
        if prefix == "/":
            assert line[1] == str(tmp_path / "lamina-sim-oven-modbus")
        async with AgingOvenModbus(line[1]) as oven:
            assert (await oven.identify()).startswith("MODBUS-PID,slave 1,model 1500")
            await oven.set_setpoint_c(120.0)
            assert await oven.setpoint_c() == 120.0
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0


def test_all_is_still_the_four_simulators() -> None:
    assert expand(["all"]) == ["press", "peel", "oven", "laser"]
    assert expand(["oven-modbus", "all"])[0] == "oven-modbus"
