"""Aging run speed: a whole 1000-hour run at time scale 100 000 (target: under 60 s real),
through the real parts — oven simulator on a pseudo-terminal, driver, runner, SQLite with
the database recorder — and what it costs.

Prints: real time of the run next to the floor set by the clock (1000 h / scale) and the
60 s target, how far accounting lagged behind the oven at the end, CPU seconds used, the
oven log rows accounted per real second, checkpoints written, and the simulator's own cost
to model 1000 h (analytic thermal steps, one log row a minute).

Run: ``.venv/bin/python bench/aging.py [--scale 100000] [--hours 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.bus import Bus
from daq.clock import SimClock
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.models import RunEventRow, Sample, Specimen
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import AgingOven
from simulators.clock import Clock
from simulators.oven import OvenSim
from simulators.servers import PtyServer

TARGET_REAL_S = 60.0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def simulator_cost(hours: float) -> float:
    """Real seconds the oven model needs to advance ``hours`` of simulated time."""
    sim = OvenSim(Clock(scale=1.0))
    start = time.perf_counter()
    step = 2000.0  # a tick's worth at scale 100 000
    for _ in range(int(hours * 3600 / step)):
        sim.advance(step)
    return time.perf_counter() - start


async def run_once(scale: float, hours: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lamina-bench-aging-"))
    origin = time.time()
    sim = OvenSim(Clock(scale=scale, origin=origin))
    server = PtyServer(sim, link=workdir / "oven")
    resource_str = await server.start()
    clock = SimClock(scale=scale, origin=origin)
    engine = create_engine(f"sqlite+aiosqlite:///{workdir / 'lamina.db'}")
    await create_all(engine)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add(Sample(id="EX1-B", material_key="EX1", material_name="Example 1",
                     adhesive_thickness_um=5.0, film_forms=True, created_ts=0.0))
        await s.flush()
        for i in range(6):
            s.add(Specimen(id=f"EX1-B-{i}", sample_id="EX1-B", created_ts=0.0))
    recorder = DbRecorder(sessions, Bus(), clock=clock)
    try:
        async with AgingOven(resource_str) as oven:
            runner = AgingRunner(ovens={"oven1": oven}, clock=clock, recorder=recorder,
                                 sessions=sessions)
            cpu0, t0 = cpu_s(), time.perf_counter()
            rid = await runner.start(AgingPlan(target_h=hours, pullouts_h=(hours / 4,
                                                                           hours / 2, hours)),
                                     [f"EX1-B-{i}" for i in range(6)])
            acc = await runner.wait(rid)
            real_s = time.perf_counter() - t0
            used = cpu_s() - cpu0
            lag_h = (clock.now() - acc.accounted_until_ts) / 3600
        async with sessions() as s:
            events = await s.scalar(select(func.count()).select_from(RunEventRow))
    finally:
        await server.stop()
        await engine.dispose()
    floor_s = hours * 3600 / scale
    rows = acc.elapsed_s / 60
    print(f"aging run {hours:g} h at scale {scale:g}")
    print(f"  real time          {real_s:8.2f} s   (clock floor {floor_s:.2f} s, "
          f"target {TARGET_REAL_S:g} s: {real_s / TARGET_REAL_S:.0%} of it)")
    print(f"  overhead on floor  {real_s / floor_s:8.3f} x   lag at the end {lag_h:.2f} h "
          f"simulated ({lag_h * 3600 / scale * 1000:.1f} ms real)")
    print(f"  CPU (this process) {used:8.2f} s   ({used / real_s:.0%} of one core, includes "
          f"the simulator)")
    print(f"  log rows accounted {rows:8.0f}     ({rows / real_s:,.0f} rows/s real)")
    print(f"  run events stored  {events:8d}")
    totals = acc.totals()
    print(f"  in {totals['in_tolerance_h']:.3f} h + out {totals['out_of_tolerance_h']:.3f} h + "
          f"unmonitored {totals['unmonitored_h']:.3f} h = elapsed {totals['elapsed_h']:.3f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100_000.0)
    parser.add_argument("--hours", type=float, default=1000.0)
    args = parser.parse_args()
    cost = simulator_cost(args.hours)
    print(f"oven simulator: {args.hours:g} h modelled in {cost * 1000:.0f} ms "
          f"({args.hours * 60 / cost:,.0f} log rows/s)")
    asyncio.run(run_once(args.scale, args.hours))


if __name__ == "__main__":
    main()
