"""A station configured on simulators in another process (`python -m simulators`, as
`daq simulate` runs them) tells them what each run puts on them through their side doors:
the peel tester's announced beside its pty link, the laser's given in the configuration."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daq.config import InstrumentConfig
from daq.laser.procedure import LaserJobResult
from daq.peel.procedure import PeelOutcome
from daq.station.lab import Lab
from daq.station.simulation import RemoteDoor, SimulatorNotTold
from tests.api.conftest import station_settings
from tests.simulation.conftest import HANG_GUARD_S, SCALE, register_lot, register_specimen


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[dict[str, str]]:
    """peel and laser in a process of their own: name → resource, and name-door → door."""
    origin = f"{time.time():.3f}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "peel", "laser", "--time-scale", f"{SCALE:g}",
         "--time-origin", origin, "--port", "laser=0", "--link-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        found: dict[str, str] = {"origin": origin}
        for _ in range(2):
            name, resource = proc.stdout.readline().split()
            found[name] = resource
        for _ in range(2):  # "# peel side door (simulation commands only) TCPIP::…"
            words = proc.stderr.readline().split()
            assert words[2:4] == ["side", "door"], words
            found[f"{words[1]}-door"] = words[-1]
        yield found
    finally:
        proc.terminate()
        proc.wait(10)


async def test_simulators_in_another_process_are_told_through_their_doors(
    tmp_path: Path, simulators: dict[str, str]
) -> None:
    settings = station_settings(tmp_path, scale=SCALE, time_origin=float(simulators["origin"]),
                                instruments={
        "peel1": InstrumentConfig(driver="peel_tester", resource=simulators["peel"],
                                  simulated=True),
        "laser1": InstrumentConfig(driver="uv_laser", resource=simulators["laser"],
                                   simulator_door=simulators["laser-door"]),
    })
    async with Lab(settings) as lab:
        assert lab.simulators is None and lab.simulator_wiring is not None
        await register_specimen(lab, "S-0101", "LOT-P", "EX1", aging_hours=1000)
        run_id = await lab.run_engine.start("peel_test", {"specimen_id": "S-0101"})
        await lab.run_engine.wait(run_id, HANG_GUARD_S)
        peeled = lab.run_engine.result(run_id)
        assert isinstance(peeled, PeelOutcome)
        assert peeled.status == "DONE", peeled.reason
        assert peeled.result is not None
        # Table 1, Example 1 after 1000 h: 7 N/cm; untold, the id would name no material.
        assert 6.0 <= peeled.result.peel_strength_n_per_cm <= 8.0
        await register_lot(lab, "LOT-Q", "CMP1")
        run_id = await lab.run_engine.start("laser_job", {"sample_id": "LOT-Q", "n_holes": 50})
        await lab.run_engine.wait(run_id, HANG_GUARD_S)
        drilled = lab.run_engine.result(run_id)
        assert isinstance(drilled, LaserJobResult)
        # 15 µm of Comparative 1 (untold: the 5 µm default film, grade O).
        assert drilled.grade is not None and drilled.grade.grade == "X"
    # The peel tester's door is the one it announced beside its link.
    assert (tmp_path / "lamina-sim-peel.door").read_text().strip() == simulators["peel-door"]
    door = RemoteDoor(simulators["peel-door"])
    try:
        assert await door.send("SIM:TIME?") != ""
    finally:
        await door.close()


async def test_a_simulated_instrument_whose_door_is_gone_refuses_the_run(
    tmp_path: Path, simulators: dict[str, str]
) -> None:
    settings = station_settings(tmp_path, scale=SCALE, instruments={
        "laser1": InstrumentConfig(driver="uv_laser", resource=simulators["laser"],
                                   simulator_door="TCPIP::127.0.0.1::1::SOCKET"),
    })
    async with Lab(settings) as lab:
        await register_lot(lab, "LOT-R", "CMP1")
        with pytest.raises(SimulatorNotTold, match="could not be told what LOT-R is made of"):
            await lab.run_engine.start("laser_job", {"sample_id": "LOT-R", "n_holes": 50})
        assert lab.run_engine.active() == []
        assert lab.run_engine.holder_of("laser1") is None
