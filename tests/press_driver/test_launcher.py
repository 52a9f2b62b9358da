"""Starting simulators: the registry helper, ``python -m simulators`` and ``daq simulate``
print resource strings a driver can use, and stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.lamination_press import LaminationPress
from simulators import registry
from simulators.clock import Clock
from simulators.press import PressSimulator


def test_all_means_every_registered_simulator() -> None:
    # The Modbus ovens are the oven again on another wire: started by name only.
    assert registry.expand(["all"]) == [n for n, s in registry.SIMULATORS.items() if s.in_all]
    assert registry.expand(["press", "PRESS"]) == ["press"]
    with pytest.raises(KeyError, match="known: press"):
        registry.expand(["kettle"])


def test_port_arguments() -> None:
    assert registry.parse_ports([], ["press"]) == {"press": 5025}
    assert registry.parse_ports(["0"], ["press"]) == {"press": 0}
    assert registry.parse_ports(["press=6000"], ["press"]) == {"press": 6000}
    with pytest.raises(ValueError, match="not a port"):
        registry.parse_ports(["press=x"], ["press"])
    with pytest.raises(ValueError, match="not being started"):
        registry.parse_ports(["laser=5026"], ["press"])


async def test_start_simulators_returns_resources_a_driver_can_use() -> None:
    running = await registry.start_simulators(["press"], Clock(scale=600))
    async with running:
        assert list(running) == ["press"]
        assert isinstance(running.instruments["press"], PressSimulator)
        async with LaminationPress(running["press"], timeout_s=1.0) as press:
            assert "Lamination Press" in await press.identify()
        registry.apply_faults(running, ["press:door", "alarm,OVERTEMP"])
        sim = running.instruments["press"]
        assert isinstance(sim, PressSimulator)
        assert not sim.door_closed and sim.alarms == ["OVERTEMP"]
    assert running.servers == {}


async def _launch(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    return proc, line


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "simulators"],
    [sys.executable, "-c", "from daq.cli import main; main()", "simulate"],
], ids=["python -m simulators", "daq simulate"])
async def test_launcher_prints_the_resource_and_stops_on_signal(command: list[str]) -> None:
    proc, line = await _launch(*command, "press", "--port", "0", "--time-scale", "600",
                               "--fault", "door")
    try:
        name, resource = line.split()
        assert name == "press" and resource.startswith("TCPIP::127.0.0.1::")
        async with LaminationPress(resource, timeout_s=2.0) as press:
            assert not await press.door_closed()
            clock_now = float(await press.transport.query("SIM:TIME?"))
            assert clock_now > 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_launcher_refuses_unknown_names_without_a_traceback() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", "kettle",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"unknown simulator 'kettle'" in err and b"Traceback" not in err


async def test_all_registered_simulators_start_on_one_clock_and_stop(tmp_path: Path) -> None:
    clock = Clock(scale=600)
    links = {name: tmp_path / name for name, spec in registry.SIMULATORS.items()
             if spec.link == "pty"}
    running = await registry.start_simulators(["all"], clock, links=links)
    async with running:
        assert list(running) == [n for n, s in registry.SIMULATORS.items() if s.in_all]
        for name, resource in running.items():
            kind = registry.SIMULATORS[name].link
            assert resource.startswith("TCPIP::" if kind == "tcp" else "ASRL")
            assert running.instruments[name].clock is clock
    for link in links.values():
        assert not link.exists()
