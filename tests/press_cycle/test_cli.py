"""`daq press start` / `daq press status` as an operator runs them: real subprocesses."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer

#: The console script, as an operator runs it.
DAQ = [str(Path(sys.executable).with_name("daq"))]


def cli_env(tmp_path: Path) -> dict[str, str]:
    # No station settings of the developer's: only where (not) to find a station.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DAQ_") or k == "DAQ_STATION_URL"}
    env["COLUMNS"] = "120"
    return env


async def daq(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *DAQ, *args, cwd=tmp_path, env=cli_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def press_sim() -> AsyncIterator[tuple[PressSimulator, str, Clock]]:
    clock = Clock(600.0)
    sim = PressSimulator(clock, seed=3)
    server = TcpServer(sim, "127.0.0.1", 0)
    resource = await server.start()
    try:
        yield sim, resource, clock
    finally:
        await server.stop()


REFUSALS = [
    ("--temp", "250", "temperature 250 °C is outside the allowed window 150–200 °C"),
    ("--pressure", "12", "pressure 12 MPa is outside the allowed window 0.1–10 MPa"),
    ("--dwell", "30", "dwell 30 min is outside the allowed window 5–20 min"),
]


async def test_out_of_window_values_are_refused_before_anything_moves(
    tmp_path: Path, press_sim: tuple[PressSimulator, str, Clock]
) -> None:
    sim, resource, _ = press_sim
    # The three refusals run side by side: each is a whole interpreter start-up.
    results = await asyncio.gather(*(
        daq(tmp_path, "press", "start", flag, value, "--resource", resource,
            "--out", f"never{flag}.csv")
        for flag, value, _ in REFUSALS
    ))
    for (flag, _, message), (code, out, err) in zip(REFUSALS, results, strict=True):
        assert code == 2, flag
        assert message in err
        assert "Traceback" not in out + err
        assert not (tmp_path / f"never{flag}.csv").exists()
    assert sim.history == []  # not one byte reached the press


async def test_a_full_default_cycle_at_600x_exits_0_with_summary_and_csv(tmp_path: Path) -> None:
    code, out, err = await daq(tmp_path, "press", "start", "--temp", "200", "--pressure", "3",
                               "--dwell", "20", "--time-scale", "600", "--out", "run.csv")
    assert code == 0, err
    assert "in-process press simulator" in err
    assert err.count("running an in-process station for this command") == 1
    for phase in ("PRECHECK", "HEAT", "PRESS", "DWELL", "COOL", "RELEASE", "DONE"):
        assert phase in out
    line = next(x for x in out.splitlines() if "dwell achieved" in x)
    achieved = float(line.split("│")[1].split("of")[0])
    assert achieved >= 20.0
    assert "peak pressure" in out and "Traceback" not in out + err
    with (tmp_path / "run.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 40
    assert {r["phase"] for r in rows} >= {"HEAT", "PRESS", "DWELL", "COOL", "RELEASE"}
    assert len({r["run_id"] for r in rows}) == 1
    dwell_temps = [float(r["temp_top_degC"]) for r in rows if r["phase"] == "DWELL"]
    assert all(196.0 <= t <= 204.0 for t in dwell_temps)
    assert f"{len(rows)} readings written" in out
    # It does not dawdle, judged on the simulated clock (the CSV's own timestamps), not in
    # real seconds a busy machine stretches: the recipe's physics, by hand 43.2 min (see
    # tests/press_cycle/test_cycle.py), plus at most one poll interval at each phase's end.
    ts = [float(r["ts"]) for r in rows]
    max_gap_s = max(b - a for a, b in itertools.pairwise(ts))
    assert ts[-1] - ts[0] <= 43.2 * 60 + 6 * max_gap_s


async def test_ctrl_c_mid_cycle_makes_the_press_safe_and_exits_nonzero(
    tmp_path: Path, press_sim: tuple[PressSimulator, str, Clock]
) -> None:
    sim, resource, clock = press_sim
    proc = await asyncio.create_subprocess_exec(
        *DAQ, "press", "start", "--dwell", "5", "--resource", resource, "--time-scale", "600",
        "--time-origin", repr(clock.origin), "--json",
        cwd=tmp_path, env=cli_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not (sim.pressure_on and sim.pressure_mpa > 2.8):
        assert proc.returncode is None and time.monotonic() < deadline
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode not in (0, None)
    assert "Traceback" not in out.decode() + err.decode()
    sim.update()
    assert not sim.heater_on and not sim.pressure_on
    # Made safe by the abort, not by the watchdog. The safe routine repeats ABOR until it
    # reads the press safe, so a loaded machine may send it twice; never anything else.
    reasons = [e.reason for e in sim.safe_events]
    assert reasons and set(reasons) == {"ABORT"}, reasons
    report = json.loads(out)
    assert report["outcome"] == "ABORTED"
    assert "SIGINT" in report["reason"]
    assert report["summary"]["safe_confirmed"] is True


async def test_status_reads_the_press_once(
    tmp_path: Path, press_sim: tuple[PressSimulator, str, Clock]
) -> None:
    sim, resource, _ = press_sim
    sim.inject("door")
    (code, out, err), (code_none, _, err_none) = await asyncio.gather(
        daq(tmp_path, "press", "status", "--resource", resource, "--json"),
        daq(tmp_path, "press", "status"),
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["state"] == "IDLE" and data["door"] == "open" and data["alarms"] == []
    assert "Lamination Press" in data["identity"]
    assert code_none == 2 and "no press configured" in err_none
    # A tripped press is acknowledged with `daq press reset`.
    sim.inject("door", "closed")
    sim.trip("WATCHDOG")
    code, out, err = await daq(tmp_path, "press", "reset", "--resource", resource, "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "IDLE" and json.loads(out)["alarms"] == []


async def test_an_unreachable_press_is_one_clear_line(tmp_path: Path) -> None:
    code, out, err = await daq(tmp_path, "press", "start", "--resource",
                               "TCPIP::127.0.0.1::1::SOCKET", "--time-scale", "600")
    assert code == 1
    assert "InstrumentConnectionError" in err and "Traceback" not in out + err


async def test_a_recipe_file_with_a_configured_press(
    tmp_path: Path, press_sim: tuple[PressSimulator, str, Clock]
) -> None:
    _, resource, clock = press_sim
    (tmp_path / "daq.toml").write_text(
        f'[instruments.hp1]\ndriver = "lamination_press"\nresource = "{resource}"\n'
    )
    (tmp_path / "ex1.toml").write_text("[recipe]\ntemperature_c = 180\ndwell_min = 5\n")
    code, out, err = await daq(tmp_path, "press", "start", "ex1.toml", "--pressure", "2",
                               "--config", "daq.toml", "--time-scale", "600", "--time-origin",
                               repr(clock.origin), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["outcome"] == "DONE"
    recipe = report["summary"]["recipe"]
    assert (recipe["name"], recipe["temperature_c"], recipe["pressure_mpa"]) == ("ex1", 180, 2)
    assert report["summary"]["dwell_achieved_min"] >= 5.0


async def test_a_killed_cli_leaves_the_press_to_its_watchdog(
    tmp_path: Path, press_sim: tuple[PressSimulator, str, Clock]
) -> None:
    """The cycle arms the press's watchdog: SIGKILL the controlling process mid-cycle and
    the press goes safe by itself within the watchdog time (3 real seconds)."""
    sim, resource, clock = press_sim
    proc = await asyncio.create_subprocess_exec(
        *DAQ, "press", "start", "--resource", resource, "--time-scale", "600",
        "--time-origin", repr(clock.origin), "--json",
        cwd=tmp_path, env=cli_env(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not sim.heater_on:
        assert proc.returncode is None and time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert sim.watchdog_s >= 3.0
    watchdog_s = sim.watchdog_s
    proc.kill()
    await proc.wait()
    # The watchdog's promise, not a real-time margin: once the press has heard nothing for
    # one watchdog period and one physics tick (its own clock, monotonic like the watchdog),
    # the next update finds it SAFE; and the trip never came before a full period of silence.
    deadline = time.monotonic() + 60  # hang guard only
    while (clock.now() - sim.history[-1][0]) / clock.scale <= watchdog_s + sim.tick_s:
        assert time.monotonic() < deadline, "hang guard: the press kept hearing commands"
        await asyncio.sleep(sim.tick_s)
    sim.update()
    assert not sim.heater_on, "watchdog did not trip"
    assert [e.reason for e in sim.safe_events] == ["WATCHDOG"]
    last_command_ts = max(ts for ts, _ in sim.history if ts <= sim.safe_events[0].sim_time)
    assert sim.safe_events[0].sim_time - last_command_ts >= watchdog_s * clock.scale
    assert not sim.pressure_on
