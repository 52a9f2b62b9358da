"""`daq laser run` from another process goes through a running `daq run` (PostgreSQL,
Mosquitto): the lot is registered through the API, the job is the station's run, on
MQTT while it runs, audited with the token's user; Ctrl-C aborts it and the shutter is
closed, as the laser itself tells."""

from __future__ import annotations

import asyncio
import json

from tests.cli.conftest import DAQ, StationProcess, interrupt, logged_in
from tests.cli.test_press_through_station import run_ids_on
from tests.mqtt.helpers import Recorder
from tests.service.test_crash import query


async def test_laser_run_goes_through_the_station_and_ctrl_c_closes_the_shutter(
    station: StationProcess,
) -> None:
    env = await logged_in(station)
    prefix = station.prefix
    laser = station.resources["laser1"]
    async with Recorder(1883, f"{prefix}/#", qos=1) as sub:
        # 2000 holes at one a second: 33 real minutes at the station's 60×.
        cli = await asyncio.create_subprocess_exec(
            DAQ, "laser", "run", "--sample", "EX1-2026-060", "--holes", "2000",
            "--hole-rate", "1", "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        def drilling(s: Recorder) -> set[str]:
            return {r for r in run_ids_on(s, prefix)
                    if any(m.json()["kind"] == "transition" and m.json()["data"]["to"] == "DRILL"
                           for m in s.on(f"runs/{r}/events"))}

        await sub.wait_for(lambda s: bool(drilling(s)), 60)
        (run_id,) = drilling(sub)
        await sub.wait_for(lambda s: sum(m.json().get("run_id") == run_id
                                         for m in s.on("instruments/laser1/readings")) >= 2, 30)
        assert cli.returncode is None  # its readings and events came while it drilled
        assert query(laser, "SHUT?") == "OPEN"
        code, out, err = await interrupt(cli)
    assert code == 130, out + err
    report = json.loads(out)
    assert report["run_id"] == run_id and report["outcome"] == "ABORTED"
    assert query(laser, "SHUT?") == "CLOSED"  # the laser says so itself
    async with station.admin() as http:
        run = (await http.get(f"/api/runs/{run_id}")).json()
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    assert run["kind"] == "laser_job" and run["status"] == "ABORTED"
    assert run["operator"] == "olga" and run["summary"]["shutter_closed"] is True
    actions = {(a["action"], a["target"]) for a in audit}
    assert {("sample.register", "EX1-2026-060"), ("run.start", run_id),
            ("run.abort", run_id)} <= actions
