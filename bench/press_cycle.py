"""Real time of a full default press cycle (200 °C / 3 MPa / 20 min) at a time scale, and
how fast an abort reaches the press, against the foundation issue's targets.

    .venv/bin/python bench/press_cycle.py                # 600×, 3 cycles, 3 aborts
    .venv/bin/python bench/press_cycle.py --scale 1200 --runs 1

Target: a default cycle at 600× in under 15 s real; an abort puts the press SAFE within
one poll. The press simulator runs in-process on a real socket, as `daq press start`
does with no press configured (interpreter start-up, ~2 s, is not included).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Reading
from daq.press.procedure import PressCycle
from daq.press.record import Outcome, Phase
from daq.recipes import PressRecipe
from daq.record import MemoryRecorder
from drivers.lamination_press import LaminationPress
from drivers.transport.loop import loop_name, run
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer

CYCLE_TARGET_S = 15.0


async def one_cycle(scale: float, abort_in_dwell: bool) -> tuple[float, float, float, float]:
    """(real s, dwell min, abort latency sim s, poll interval sim s) of one cycle."""
    clock = SimClock(scale=scale)
    sim = PressSimulator(Clock(scale, clock.origin))
    server = TcpServer(sim)
    resource = await server.start()
    bus = Bus()
    try:
        async with LaminationPress(resource) as press:
            cycle = PressCycle(press, PressRecipe(), clock, MemoryRecorder(bus), bus)
            readings = bus.subscribe("bench", (Reading,))
            started = time.monotonic()
            task = asyncio.create_task(cycle.run())
            latency = float("nan")
            if abort_in_dwell:
                while not (cycle.phase is Phase.DWELL and cycle.record.dwell_s > 300):
                    await readings.get()
                aborted_at = clock.now()
                cycle.abort("bench")
            result = await task
            real_s = time.monotonic() - started
            if abort_in_dwell:
                assert result.outcome is Outcome.ABORTED, (result.outcome, result.reason)
                latency = sim.safe_events[0].sim_time - aborted_at
            else:
                assert result.outcome is Outcome.DONE, result.reason
            poll_sim_s = clock.to_sim(cycle.poll_interval_s)
            return real_s, result.summary["dwell_achieved_min"], latency, poll_sim_s
    finally:
        await server.stop()


async def main(scale: float, runs: int) -> None:
    print(f"event loop: {loop_name()}, time scale {scale:g}×, {runs} run(s) each")
    cycles = [await one_cycle(scale, False) for _ in range(runs)]
    real = [c[0] for c in cycles]
    dwell = [c[1] for c in cycles]
    median = statistics.median(real)
    print(f"full default cycle: real {min(real):.2f}–{max(real):.2f} s (median {median:.2f} s),"
          f" dwell achieved {min(dwell):.2f} min")
    target = CYCLE_TARGET_S * 600 / scale
    print(f"  target < {target:g} s real: {median / target:.2f}× of the budget "
          f"({'met' if max(real) < target else 'MISSED'})")
    aborts = [await one_cycle(scale, True) for _ in range(runs)]
    latencies = [a[2] for a in aborts]
    poll_sim_s = aborts[0][3]
    print(f"abort mid-dwell → press SAFE after {max(latencies):.1f} simulated s at most "
          f"({clock_real(max(latencies), scale) * 1000:.0f} ms real); one poll = "
          f"{poll_sim_s:.0f} simulated s: {max(latencies) / poll_sim_s:.2f}× "
          f"({'met' if max(latencies) <= poll_sim_s else 'MISSED'})")


def clock_real(sim_s: float, scale: float) -> float:
    """Real seconds of ``sim_s`` simulated seconds."""
    return sim_s / scale


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=600.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run(main(args.scale, args.runs))
