"""`daq press start` from another process goes through a running `daq run` (PostgreSQL,
Mosquitto): the run is the station's, on MQTT while it runs, audited with the token's
user; Ctrl-C aborts it and the press reaches SAFE, as the press itself tells; `daq press
status|reset` are the station's view of the press and its reset (refused while the door
is open)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat

from tests.cli.conftest import DAQ, StationProcess, daq, interrupt, logged_in
from tests.mqtt.helpers import Recorder


def press_query(resource: str, command: str) -> str:
    """One line exchanged with the press simulator over its own protocol."""
    _, host, port, _ = resource.split("::")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(command.encode() + b"\n")
        return s.makefile().readline().strip()


def press_state(resource: str, after: str | None = None) -> str:
    """The state the press reports (last field of ``MEAS:ALL?``), ``after`` a command
    that answers nothing (a ``SIM:FAULT``) sent on the same connection first."""
    query = "MEAS:ALL?" if after is None else f"{after}\nMEAS:ALL?"
    return press_query(resource, query).rsplit(",", 1)[1]


def run_ids_on(sub: Recorder, prefix: str) -> set[str]:
    """Runs whose events reached the subscriber."""
    found = set()
    for m in sub.messages:
        parts = m.topic.removeprefix(prefix + "/").split("/")
        if parts[0] == "runs" and parts[-1] == "events":
            found.add(parts[1])
    return found


def transitions(sub: Recorder, prefix: str, run_id: str) -> list[str]:
    """The phases a run's events on MQTT moved it into, in order."""
    return [m.json()["data"]["to"] for m in sub.on(f"runs/{run_id}/events")
            if m.topic == f"{prefix}/runs/{run_id}/events" and m.json()["kind"] == "transition"]


async def test_login_stores_a_private_token_and_commands_need_one(
    station: StationProcess,
) -> None:
    env = station.client_env()
    code, out, err = await daq("press", "start", "--dwell", "5", env=env)
    assert code == 2, out + err
    assert "not logged in" in err and "daq login" in err and "Traceback" not in out + err
    code, out, err = await daq("login", "--user", "olga", "--password-stdin", env=env,
                               stdin=b"wrong\n")
    assert code == 2 and "wrong user name or password" in err, out + err
    await logged_in(station)
    token_file = station.config_home / "lamina" / "token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert station.url in json.loads(token_file.read_text())
    # DAQ_TOKEN wins over the stored token.
    code, out, err = await daq("press", "start", "--dwell", "5",
                               env={**env, "DAQ_TOKEN": "not-a-token"})
    assert code == 2 and "Traceback" not in out + err, out + err


async def test_press_start_goes_through_the_station_and_ctrl_c_makes_the_press_safe(
    station: StationProcess, pg_url: str,
) -> None:
    env = await logged_in(station)
    press = station.resources["press1"]
    prefix = station.prefix
    # `daq press status` is the station's view of its press.
    code, out, err = await daq("press", "status", "--json", env=env)
    assert code == 0, out + err
    shown = json.loads(out)
    assert (shown["press"], shown["resource"], shown["station"]) == ("press1", press,
                                                                      station.url)
    assert shown["state"] == "online" and shown["held_by"] is None
    assert 15 < shown["temp_top_c"] < 40  # the platens at room temperature
    code, out, err = await daq("press", "status", "--press", "press9", env=env)
    assert code == 2 and err.strip().endswith(f"the station at {station.url} has no press "
                                              "named 'press9'"), out + err
    async with Recorder(1883, f"{prefix}/#", qos=1) as sub:
        cli = await asyncio.create_subprocess_exec(
            DAQ, "press", "start", "--temp", "200", "--pressure", "3", "--dwell", "20",
            "--json", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        # The run is live on MQTT: its events (HEAT entered) and readings tagged with it.
        await sub.wait_for(lambda s: any("HEAT" in transitions(s, prefix, r)
                                         for r in run_ids_on(s, prefix)), 60)
        (run_id,) = run_ids_on(sub, prefix)
        await sub.wait_for(lambda s: sum(
            m.json().get("run_id") == run_id
            for m in s.on("instruments/press1/readings")) >= 3, 30)
        assert cli.returncode is None
        # A second command on the busy press is refused, naming the run that holds it.
        code, out, err = await daq("press", "start", "--dwell", "5", env=env)
        assert code == 2, out + err
        assert err.count("\n") == 1, err  # one line
        assert f"press1 is busy with press_cycle run {run_id} of olga" in err
        assert "Traceback" not in out + err
        seen_while_running = len([m for m in sub.on("instruments/press1/readings")
                                  if m.json().get("run_id") == run_id])
        code, out, err = await interrupt(cli)
    assert code == 130, out + err
    assert seen_while_running >= 3
    report = json.loads(out)
    assert report["run_id"] == run_id and report["outcome"] == "ABORTED"
    # The press says so itself: SAFE, heater and pressure off.
    assert press_query(press, "MEAS:ALL?").split(",")[-1] == "SAFE"
    assert press_query(press, "OUTP:HEAT?") in ("0", "OFF")
    assert press_query(press, "OUTP:PRES?") in ("0", "OFF")
    async with station.admin() as http:
        listed = (await http.get("/api/runs", params={"kind": "press_cycle"})).json()
        (run,) = [r for r in listed["items"] if r["id"] == run_id]
        assert run["status"] == "ABORTED" and run["operator"] == "olga"
        assert "SIGINT" in run["reason"] and run["summary"]["safe_confirmed"] is True
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    actions = {(a["action"], a["target"]) for a in audit}
    assert ("run.start", run_id) in actions and ("run.abort", run_id) in actions

    # `daq runs` through the station shows what the database holds, field for field.
    code, out, err = await daq("runs", "show", "last", "--kind", "press_cycle", "--json",
                               env=env)
    assert code == 0, out + err
    shown_by_station = json.loads(out)
    code, out, err = await daq("runs", "show", run_id, "--json", "--url", pg_url, env=env)
    assert code == 0, out + err
    assert shown_by_station == json.loads(out)
    assert shown_by_station["run"]["id"] == run_id
    for fmt in ("csv", "json"):
        code, by_station, err = await daq("runs", "export", run_id, "--format", fmt, env=env)
        assert code == 0, err
        code, from_db, err = await daq("runs", "export", run_id, "--format", fmt, "--url",
                                       pg_url, env=env)
        assert code == 0 and by_station == from_db and len(by_station) > 1000, err
    code, out, err = await daq("runs", "show", "press-000000000000", env=env)
    assert code == 1 and "press-000000000000" in err and "Traceback" not in err, out + err

    # The aborted press is latched SAFE; `daq press reset` goes through the station, which
    # refuses while the door is open, in its own words, and sends nothing.
    code, out, err = await daq("press", "status", "--json", env=env)
    assert code == 0 and json.loads(out)["state"] == "safe", out + err
    assert press_state(press, after="SIM:FAULT door,open") == "SAFE"
    code, out, err = await daq("press", "reset", env=env)
    assert code == 2 and "door of press1 is open" in " ".join(err.split()), out + err
    assert press_state(press) == "SAFE"
    press_state(press, after="SIM:FAULT door,closed")
    code, out, err = await daq("press", "reset", "--json", env=env)
    assert code == 0, out + err
    after = json.loads(out)
    assert after["door"] == "closed" and after["state"] == "online" and after["alarms"] == []
    assert press_state(press) == "IDLE"
    async with station.admin() as http:
        audit = (await http.get("/api/audit", params={"user": "olga"})).json()
    assert [a["result"] for a in audit if a["action"] == "instrument.reset"] == [
        "ok", "refused 409"]  # newest first


async def test_a_station_that_does_not_control_the_named_resource_refuses(
    station: StationProcess,
) -> None:
    env = await logged_in(station)
    code, out, err = await daq("press", "start", "--resource", "TCPIP::192.0.2.1::5025::SOCKET",
                               env=env)
    assert code == 2, out + err
    assert "does not control TCPIP::192.0.2.1::5025::SOCKET" in " ".join(err.split())
    assert "press1 at TCPIP::127.0.0.1::" in " ".join(err.split())
