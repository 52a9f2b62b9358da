"""`daq laser run` as an operator runs it: a subprocess, a real SQLite file, a simulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.laser.conftest import LaserRig

DAQ = [str(Path(sys.executable).parent / "daq")]


async def daq(*args: str, tmp_path: Path) -> tuple[int, str, str]:
    env = dict(os.environ, DAQ_TIME_SCALE="100", DAQ_MQTT_URL="embedded", COLUMNS="200",
               DAQ_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'lamina.db'}")
    env.pop("DAQ_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        *DAQ, *args, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_registers_the_lot_drills_and_grades_O(tmp_path: Path) -> None:
    code, out, err = await daq("laser", "run", "--sample", "EX1-2026-001", "--holes", "500",
                               tmp_path=tmp_path)
    assert code == 0, err
    assert "grade O" in out and "500 of 500 holes drilled, shutter closed" in out
    assert "Traceback" not in out + err


async def test_run_json_against_a_given_laser(rig: LaserRig, tmp_path: Path) -> None:
    code, out, err = await daq("laser", "run", "--sample", "CMP1-2026-002", "--holes", "200",
                               "--resource", rig.resource, "--json", tmp_path=tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["grade"] == "X" and report["holes_done"] == 200 and report["stored"]
    assert not rig.sim.shutter_is_open


async def test_out_of_range_power_is_refused_before_the_laser(
    rig: LaserRig, tmp_path: Path
) -> None:
    code, out, err = await daq("laser", "run", "--sample", "EX1-2026-001", "--power", "9",
                               "--resource", rig.resource, tmp_path=tmp_path)
    assert code == 2
    assert "power_w = 9.0 is not allowed: 0–8 W" in " ".join(err.split())
    assert "Traceback" not in out + err
    assert rig.sim.commands_seen == []
    assert not (tmp_path / "lamina.db").exists()


async def test_interlock_open_exits_nonzero_with_the_reason(
    rig: LaserRig, tmp_path: Path
) -> None:
    rig.sim.inject("door")
    code, out, _err = await daq("laser", "run", "--sample", "EX1-2026-003", "--holes", "50",
                               "--resource", rig.resource, tmp_path=tmp_path)
    assert code == 1
    assert "FAULTED" in out and "door" in out
    assert not any(c.upper().startswith("SHUT OPEN") for c in rig.sim.commands_seen)
