"""`daq aging start` from another process goes through a running `daq run` (PostgreSQL,
Mosquitto): the run is the station's, its events and the oven's readings on MQTT while
it runs, audited with the token's user; `daq aging status|pullout` from another shell go
through the station as that user; Ctrl-C aborts it, as the stored run says."""

from __future__ import annotations

import asyncio
import json

from tests.cli.conftest import DAQ, StationProcess, daq, interrupt, logged_in
from tests.mqtt.helpers import Recorder


async def test_aging_start_goes_through_the_station_and_ctrl_c_aborts_it(
    station: StationProcess,
) -> None:
    env = await logged_in(station)
    prefix = station.prefix
    # The specimens are not on record: the start registers them (lot EX1-2026-050).
    async with Recorder(1883, f"{prefix}/#", qos=1) as sub:
        cli = await asyncio.create_subprocess_exec(
            DAQ, "aging", "start", "--specimen", "EX1-2026-050-A1", "--specimen",
            "EX1-2026-050-A2", "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        def aging_runs(s: Recorder) -> set[str]:
            return {m.topic.split("/")[-2] for m in s.messages
                    if m.topic.startswith(f"{prefix}/runs/") and m.topic.endswith("/events")}

        # 1000 h at the station's 60× is 17 real hours: it is running when seen.
        await sub.wait_for(lambda s: bool(aging_runs(s)), 60)
        (run_id,) = aging_runs(sub)
        before = len(sub.on("instruments/oven1/readings"))
        await sub.wait_for(lambda s: len(s.on("instruments/oven1/readings")) >= before + 2, 30)
        assert cli.returncode is None  # the oven's readings came while the run was live
        # The oven is held: a second run on it is refused, naming the holder.
        code, out, err = await daq("aging", "start", "--specimen", "EX1-2026-050-A1", env=env)
        assert code == 2 and f"oven1 is busy with aging_run run {run_id}" in err, out + err
        # Status and a pull-out from another shell go through the station too: the
        # pull-out is the token's user's, whatever --operator says.
        code, out, err = await daq("aging", "status", "--json", env=env)
        assert code == 0, out + err
        status = json.loads(out)
        assert status["run_id"] == run_id and status["status"] == "RUNNING"
        assert {s["id"]: s["state"] for s in status["specimens"]} == {
            "EX1-2026-050-A1": "AGING", "EX1-2026-050-A2": "AGING"}
        code, out, err = await daq("aging", "pullout", "--specimen", "EX1-2026-050-A1",
                                   "--operator", "someone-else", "--json", env=env)
        assert code == 0, out + err
        pulled = json.loads(out)
        assert pulled["run_id"] == run_id and pulled["specimen_ids"] == ["EX1-2026-050-A1"]
        assert pulled["operator"] == "olga"
        code, out, err = await daq("aging", "pullout", "--specimen", "EX1-2026-050-A1",
                                   env=env)
        assert code == 2 and "not in the oven" in err, out + err
        code, out, err = await interrupt(cli)
    assert code == 130, out + err
    report = json.loads(out)
    assert report["run_id"] == run_id and report["status"] == "ABORTED"
    async with station.admin() as http:
        run = (await http.get(f"/api/runs/{run_id}")).json()
        aging = (await http.get(f"/api/aging-runs/{run_id}")).json()
        specimens = (await http.get("/api/specimens",
                                    params={"sample_id": "EX1-2026-050"})).json()
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    assert run["kind"] == "aging_run" and run["status"] == "ABORTED"
    assert run["operator"] == "olga" and aging["status"] == "ABORTED"
    actions = {(a["action"], a["target"]) for a in audit}
    assert {("run.start", run_id), ("run.abort", run_id)} <= actions
    assert [a["result"] for a in audit if a["action"] == "aging.pullout"] == [
        "refused 409", "ok"]  # newest first
    pulls = {s["id"]: (s["state"], s["aging_hours"]) for s in specimens}
    assert pulls["EX1-2026-050-A1"] == ("PULLED", round(pulled["in_tolerance_h"], 3))
