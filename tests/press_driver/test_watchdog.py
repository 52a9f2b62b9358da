"""A controlling process that dies mid-cycle: the press reaches its safe state by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from drivers.lamination_press import LaminationPress, PressState
from tests.press_driver.conftest import SimulatedPress

ROOT = Path(__file__).resolve().parents[2]

CONTROLLER = textwrap.dedent("""
    import asyncio, sys
    from drivers.lamination_press import LaminationPress

    async def main() -> None:
        async with LaminationPress(sys.argv[1]) as press:
            await press.arm_watchdog(1.0)
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
        await asyncio.sleep(0.3)
        sim = press_sim.sim
        assert sim.heater_on and sim.pressure_on and sim.state.value == "PRESS"
        assert sim.safe_events == []
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    for _ in range(200):
        if sim.safe_events:
            break
        await asyncio.sleep(0.02)
    assert [e.reason for e in sim.safe_events] == ["WATCHDOG"]
    assert time.monotonic() - killed_at < 2.5  # 1 s watchdog, generous for a busy machine
    assert not sim.heater_on and not sim.pressure_on
    for _ in range(100):  # pressure bleeds off in a few simulated seconds
        if sim.pressure_mpa < 0.05:
            break
        await asyncio.sleep(0.01)
    async with LaminationPress(press_sim.resource, timeout_s=1.0) as press:
        reading = await press.measure_all()
        assert reading.state is PressState.SAFE
        assert reading.pressure_mpa < 0.05
        assert await press.alarms() == ["WATCHDOG"]


async def test_polling_keeps_the_watchdog_quiet_and_disarming_stops_it(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    await press.arm_watchdog(0.5)
    for _ in range(12):  # 0.6 s of kicks, longer than the watchdog
        await asyncio.sleep(0.05)
        await press.kick_watchdog()
    assert press_sim.sim.safe_events == []
    await press.arm_watchdog(0)
    await asyncio.sleep(0.6)
    assert press_sim.sim.safe_events == []
    assert (await press.measure_all()).state is PressState.IDLE
