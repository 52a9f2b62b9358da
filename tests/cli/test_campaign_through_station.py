"""`daq campaign run` from another process goes through a running `daq run` (PostgreSQL,
Mosquitto): the campaign and each of its steps are the station's runs, on MQTT while
they run, audited with the token's user; Ctrl-C aborts the step under way (the press
reaches SAFE, as it tells itself) and the campaign; the same command again resumes it
to the end and prints the reproduced table from the station."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.campaign.conftest import SMALL
from tests.cli.conftest import DAQ, StationProcess, daq, interrupt, logged_in
from tests.cli.test_press_through_station import press_query, run_ids_on, transitions
from tests.mqtt.helpers import Recorder


async def test_campaign_run_goes_through_the_station_is_aborted_and_resumed(
    station: StationProcess, tmp_path: Path,
) -> None:
    env = await logged_in(station)
    prefix = station.prefix
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(id="small-cli", hours=100.0), encoding="utf-8")
    async with Recorder(1883, f"{prefix}/#", qos=1) as sub:
        cli = await asyncio.create_subprocess_exec(
            DAQ, "campaign", "run", str(path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        def pressing(s: Recorder) -> list[str]:
            return [r for r in run_ids_on(s, prefix) if "HEAT" in transitions(s, prefix, r)]

        # The first press step is heating: its events and readings are on MQTT.
        await sub.wait_for(lambda s: bool(pressing(s)), 90)
        (press_run,) = pressing(sub)
        await sub.wait_for(lambda s: sum(m.json().get("run_id") == press_run
                                         for m in s.on("instruments/press1/readings")) >= 2, 30)
        assert cli.returncode is None
        code, out, err = await interrupt(cli)
    assert code == 130 and "run the same command again to resume" in err, out + err
    assert press_query(station.resources["press1"], "MEAS:ALL?").split(",")[-1] == "SAFE"
    async with station.admin() as http:
        campaigns = (await http.get("/api/runs", params={"kind": "campaign"})).json()["items"]
        cut = (await http.get(f"/api/runs/{press_run}")).json()
    assert [c["status"] for c in campaigns] == ["ABORTED"]
    assert campaigns[0]["operator"] == "olga"
    assert cut["status"] == "ABORTED" and cut["operator"] == "olga"
    # Reset the press it left SAFE (the operator's job), then run the same command again.
    code, out, err = await daq("press", "reset", "--resource", station.resources["press1"],
                               env=env)
    assert code == 0, out + err
    code, out, err = await daq("campaign", "run", str(path), env=env)
    assert code == 0, out + err
    assert "resuming campaign small-cli" in err and "Table 1 reproduced" in out
    assert "in-process" not in out + err
    async with station.admin() as http:
        record = (await http.get("/api/campaigns/small-cli")).json()
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    assert record["status"] == "DONE" and record["sessions"] == 2
    rows = {r["lot"]: r for r in record["table"]}
    assert rows["EX1-T-001"]["laser_grade"] == "O" and rows["CMP2-T-001"]["no_film"]
    started = [a["target"] for a in audit if a["action"] == "run.start"]
    assert len(started) == 2  # the campaign, twice: its steps are started inside it
