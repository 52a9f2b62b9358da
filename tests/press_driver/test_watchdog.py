"""A controlling process that dies mid-cycle: the press reaches its safe state by itself."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from drivers.lamination_press import LaminationPress, PressState
from simulators.press import PressSimulator
from tests.press_driver.conftest import SimulatedPress

ROOT = Path(__file__).resolve().parents[2]
#: The controller below arms the watchdog for this many real seconds.
CONTROLLER_WATCHDOG_S = 1.0
#: Hang guard only: no verdict depends on it.
HANG_GUARD_S = 60.0


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll (real time) until ``condition()``: synchronisation, bounded only as a hang guard."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while not condition():
        assert loop.time() < deadline, f"hang guard: {what}"
        await asyncio.sleep(PressSimulator.tick_s)


def real_s_since_last_command(sim: PressSimulator) -> float:
    """Real seconds since the press last heard a command (any command kicks its watchdog),
    from the simulator's own clock, which runs on time.monotonic() like the watchdog."""
    return (sim.clock.now() - sim.history[-1][0]) / sim.clock.scale

CONTROLLER = textwrap.dedent(f"""
    import asyncio, sys
    from drivers.lamination_press import LaminationPress

    async def main() -> None:
        async with LaminationPress(sys.argv[1]) as press:
            await press.arm_watchdog({CONTROLLER_WATCHDOG_S})
            await press.set_temperature_c(200)
            await press.set_pressure_mpa(3)
            await press.set_heater(True)
            await press.set_pressure_output(True)
            print("pressing", flush=True)
            while True:  # a live controller polls (and so kicks the watchdog)
                await press.measure_all()
                await asyncio.sleep(0.05)

    asyncio.run(main())
""")


async def test_killed_controller_leaves_the_press_safe_by_watchdog(
    press_sim: SimulatedPress,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CONTROLLER, press_sim.resource,
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"pressing"
        sim = press_sim.sim
        armed_ts = next(ts for ts, cmd in sim.history if cmd.startswith("SYST:WDOG"))
        # Longer than the watchdog since arming (on the press's clock): only the polls
        # can have kept it alive, however long this took in real time.
        await wait_until(
            lambda: sim.clock.now() - armed_ts > CONTROLLER_WATCHDOG_S * sim.clock.scale,
            "controller did not get past one watchdog period",
        )
        assert sim.heater_on and sim.pressure_on and sim.state.value == "PRESS"
        assert sim.safe_events == []
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    # The watchdog's promise: it trips at the first physics update more than its period
    # after the last command, never before. Wait (on the press's clock) until one period
    # and one physics tick have passed since the last command, then update once more
    # ourselves: whether that update or the simulator's own tick tripped it, it is SAFE.
    await wait_until(
        lambda: real_s_since_last_command(sim) > CONTROLLER_WATCHDOG_S + PressSimulator.tick_s,
        "silence after the kill",
    )
    sim.update()
    assert sim.state.value == "SAFE"
    assert [e.reason for e in sim.safe_events] == ["WATCHDOG"]
    last_command_ts = max(ts for ts, _ in sim.history if ts <= sim.safe_events[0].sim_time)
    # Not early: a whole watchdog period of silence came before the trip.
    assert sim.safe_events[0].sim_time - last_command_ts >= (
        CONTROLLER_WATCHDOG_S * sim.clock.scale
    )
    assert not sim.heater_on and not sim.pressure_on
    # Pressure bleeds off with a 2 s (simulated) time constant: wait for it, hang-guarded.
    await wait_until(lambda: sim.pressure_mpa < 0.05, "pressure did not bleed off")
    async with LaminationPress(press_sim.resource, timeout_s=1.0) as press:
        reading = await press.measure_all()
        assert reading.state is PressState.SAFE
        assert reading.pressure_mpa < 0.05
        assert await press.alarms() == ["WATCHDOG"]


async def test_polling_keeps_the_watchdog_quiet_and_disarming_stops_it(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    watchdog_s = 0.5
    kick_every_s = 0.05  # a tenth of the watchdog: polls this close keep it alive
    sim = press_sim.sim
    await press.arm_watchdog(watchdog_s)
    armed_ts = sim.history[-1][0]
    # Kick for longer than the watchdog (on the press's clock, not by counting sleeps).
    while sim.clock.now() - armed_ts <= 1.2 * watchdog_s * sim.clock.scale:
        await asyncio.sleep(kick_every_s)
        await press.kick_watchdog()
    kicks = [ts for ts, _ in sim.history if ts >= armed_ts]
    # What decides the verdict: no gap between commands reached the watchdog period.
    assert max(b - a for a, b in itertools.pairwise(kicks)) < (
        watchdog_s * sim.clock.scale
    )
    assert press_sim.sim.safe_events == []
    await press.arm_watchdog(0)
    # Disarmed: a silence longer than the old period, and a physics update after it,
    # must not trip it (waited for on the press's clock, then one update of our own).
    await wait_until(
        lambda: real_s_since_last_command(sim) > watchdog_s + PressSimulator.tick_s,
        "silence after disarming",
    )
    sim.update()
    assert press_sim.sim.safe_events == []
    assert (await press.measure_all()).state is PressState.IDLE
