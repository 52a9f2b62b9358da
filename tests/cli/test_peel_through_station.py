"""`daq peel run` from another process goes through a running `daq run` (PostgreSQL,
Mosquitto): the specimen is registered through the API, the peel is the station's run,
on MQTT while it runs, audited with the token's user; Ctrl-C aborts it and the run
record says the tester was stopped, with the partial curve kept."""

from __future__ import annotations

import asyncio
import json

from tests.cli.conftest import DAQ, StationProcess, daq, interrupt, logged_in
from tests.mqtt.helpers import Recorder


async def test_peel_run_goes_through_the_station_and_ctrl_c_stops_the_tester(
    station: StationProcess,
) -> None:
    env = await logged_in(station)
    prefix = station.prefix
    specimen = "EX2-2026-040-A1"
    async with Recorder(1883, f"{prefix}/#", qos=1) as sub:
        # The slowest, longest peel the tester allows: 300 simulated minutes, 5 real ones
        # at the station's 60×, so it is still peeling when the test has seen it start.
        cli = await asyncio.create_subprocess_exec(
            DAQ, "peel", "run", "--specimen", specimen, "--speed", "1", "--length", "300",
            "--json", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        def peel_readings(s: Recorder) -> list[str]:
            return [m.json()["run_id"] for m in s.on("instruments/peel1/readings")
                    if m.json().get("run_id")]

        await sub.wait_for(lambda s: len(peel_readings(s)) >= 3, 60)
        (run_id,) = set(peel_readings(sub))
        # Its events come through the outbox (QoS 1), a little after the readings.
        await sub.wait_for(lambda s: bool(s.on(f"runs/{run_id}/events")), 30)
        assert cli.returncode is None  # still peeling: all of that arrived while it ran
        code, out, err = await interrupt(cli)
    assert code == 130, out + err
    report = json.loads(out)
    assert report["run_id"] == run_id and report["status"] == "ABORTED"
    assert report["sample_id"] == "EX2-2026-040" and report["n_points"] > 0
    async with station.admin() as http:
        run = (await http.get(f"/api/runs/{run_id}")).json()
        specimens = (await http.get("/api/specimens",
                                    params={"sample_id": "EX2-2026-040"})).json()
        peel = (await http.get(f"/api/peel-tests/{run_id}")).json()
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    assert run["kind"] == "peel_test" and run["status"] == "ABORTED"
    assert run["operator"] == "olga" and "aborted by the operator" in run["reason"]
    assert [s["id"] for s in specimens] == [specimen]
    assert peel["status"] == "ABORTED" and peel["n_points"] > 0  # the partial curve is kept
    actions = {(a["action"], a["target"]) for a in audit}
    assert {("sample.register", "EX2-2026-040"), ("specimen.register", specimen),
            ("run.start", run_id), ("run.abort", run_id)} <= actions


async def test_peel_run_of_a_material_that_makes_no_film_is_refused_by_the_station(
    station: StationProcess,
) -> None:
    env = await logged_in(station)
    code, out, err = await daq("peel", "run", "--specimen", "CMP3-2026-002-A1", env=env)
    assert code == 2, out + err
    assert "no film: polyimide insoluble" in err and "Traceback" not in out + err
