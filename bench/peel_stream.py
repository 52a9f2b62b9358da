"""Peel stream rate: lines/s the capture path parses and stores, against a bare
pyserial-asyncio-fast read loop on the same kind of pty.

A feeder process writes a recorded peel stream (``D,<mm>,<N>`` lines from the
simulator's force model, then ``END,COMPLETE``) into a pseudo-terminal as fast as the
reader takes it; the reader is either

* **bare**: ``serial_asyncio_fast.open_serial_connection`` + ``readline()`` counting lines;
* **capture**: the ``PeelTester`` driver's typed stream → ``capture_stream`` (curve,
  garbled count, live ``Reading``s on the bus at 10 Hz of simulated time with a
  subscriber) → the curve
  and result stored in SQLite (and PostgreSQL when it runs) through ``PeelStore``.

Clock: from the first line received to the end line (and, for capture, to the stored
row). Targets: capture ≥ 50 % of bare and ≥ 20 000 lines/s.

    .venv/bin/python bench/peel_stream.py [--lines 100000] [--rounds 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import AsyncIterator
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import serial_asyncio_fast  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from daq.bus import Bus  # noqa: E402
from daq.clock import SimClock  # noqa: E402
from daq.peel.calculation import SteadyRegionRule, peel_result  # noqa: E402
from daq.peel.capture import Capture, capture_stream  # noqa: E402
from daq.peel.store import PeelRecord, PeelStore  # noqa: E402
from daq.record import RunInfo  # noqa: E402
from daq.storage.database import create_all, create_engine, session_factory  # noqa: E402
from daq.storage.recorder import DbRecorder  # noqa: E402
from drivers.peel_tester import ChunkItem, PeelTester  # noqa: E402

FEEDER = r"""
import os, sys
from simulators.peel import ForceCurve, specimen_rng
fd, n = int(sys.argv[1]), int(sys.argv[2])
length = n / 100 * 50 / 60          # 100 Hz at 50 mm/min
curve = ForceCurve(2.7, length, specimen_rng("bench"))
lines = [f"D,{i * length / n:.3f},{curve.force_n(i * length / n):.4f}\n" for i in range(n)]
data = ("".join(lines) + "END,COMPLETE\n").encode()
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
view = memoryview(data)
while view:
    view = view[os.write(fd, view[:65536]):]
sys.stdin.readline()
"""


class Pty:
    """A raw pseudo-terminal and a feeder process writing ``n`` stream lines into it."""

    def __init__(self, n: int) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        root = str(Path(__file__).resolve().parent.parent)
        self.feeder = subprocess.Popen(
            [sys.executable, "-c", FEEDER, str(self.master), str(n)],
            pass_fds=(self.master,), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONPATH": root},
        )
        assert self.feeder.stdout is not None
        self.feeder.stdout.readline()  # the stream is generated; writing waits for go()

    def go(self) -> None:
        assert self.feeder.stdin is not None
        self.feeder.stdin.write("go\n")
        self.feeder.stdin.flush()

    def close(self) -> None:
        assert self.feeder.stdin is not None
        try:
            self.feeder.stdin.write("bye\n")
            self.feeder.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.feeder.wait(10)
        except subprocess.TimeoutExpired:  # the reader gave up: the feeder is stuck writing
            self.feeder.kill()
            self.feeder.wait()
        os.close(self.master)
        os.close(self.slave)


async def bare(n: int) -> tuple[float, int]:
    pty = Pty(n)
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=pty.path, baudrate=19200, limit=1 << 20
        )
        pty.go()
        count = 0
        line = await reader.readline()
        t0 = time.perf_counter()
        while not line.startswith(b"END"):
            count += 1
            line = await reader.readline()
        elapsed = time.perf_counter() - t0
        writer.close()
        return (count - 1) / elapsed, count
    finally:
        pty.close()


async def capture(
    n: int, store: PeelStore, recorder: DbRecorder, clock: SimClock
) -> tuple[float, int]:
    pty = Pty(n)
    bus = Bus()
    live = bus.subscribe("live-trace", maxsize=100_000)
    try:
        async with PeelTester(f"ASRL{pty.path}::INSTR", timeout=5.0) as tester:
            run_id = f"peel_test-{secrets.token_hex(6)}"
            await recorder.start_run(RunInfo(run_id, "peel_test", "peel1", clock.now()))
            pty.go()
            cap = Capture(run_id, "peel1", clock.now(), 50.0)
            stream = tester.stream_chunks(idle_timeout_s=5.0)
            first = await anext(stream)  # the clock starts at the first chunk, as for bare
            t0 = time.perf_counter()
            await capture_stream(_one(first), cap, bus)
            before_clock = len(cap.mm)  # lines that arrived with the first: not counted
            await capture_stream(stream, cap, bus)
            result = peel_result(cap.mm, cap.force_n, 3.0, SteadyRegionRule())
            await store.save(PeelRecord(
                run_id=run_id, specimen_id=None, specimen_label="bench", sample_id=None,
                laminate_id=None, aging_hours=None, instrument="peel1", width_mm=3.0,
                speed_mm_per_min=50.0, angle_deg=90.0, trigger="command", status="DONE",
                end_reason=cap.end_reason, reason=None, started_ts=cap.started_ts,
                ended_ts=clock.now(), garbled_lines=cap.garbled_lines, mm=cap.mm,
                force_n=cap.force_n, result=result, rule=SteadyRegionRule(),
            ))
            elapsed = time.perf_counter() - t0
        assert first is not None and cap.end_reason == "COMPLETE", cap
        assert live.depth() > 0  # the live view got its readings
        return (len(cap.mm) - before_clock) / elapsed, len(cap.mm)
    finally:
        pty.close()


async def _one(chunk: list[ChunkItem]) -> AsyncIterator[list[ChunkItem]]:
    yield chunk


async def open_store(url: str) -> tuple[PeelStore, DbRecorder, AsyncEngine]:
    engine = create_engine(url)
    await create_all(engine)
    sessions = session_factory(engine)
    return PeelStore(sessions), DbRecorder(sessions, prefix="lamina/bench"), engine


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    clock = SimClock()
    tmp = tempfile.mkdtemp(prefix="peel-bench-")
    backends = [("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db")]
    pg_db = f"lamina_bench_{secrets.token_hex(4)}"
    if not args.no_postgres:
        try:
            import asyncpg

            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'CREATE DATABASE "{pg_db}"')
            await admin.close()
            backends.append(("postgresql", f"postgresql+asyncpg://postgres@127.0.0.1/{pg_db}"))
        except Exception as exc:
            print(f"(PostgreSQL skipped: {exc})")
    stores = [(name, *(await open_store(url))) for name, url in backends]
    print(f"peel stream: {args.lines} lines per round, {args.rounds} rounds (median)")
    bare_rates: list[float] = []
    cap_rates: dict[str, list[float]] = {name: [] for name, *_ in stores}
    for _ in range(args.rounds):
        rate, _count = await bare(args.lines)
        bare_rates.append(rate)
        for name, store, recorder, _engine in stores:
            rate, _count = await capture(args.lines, store, recorder, clock)
            cap_rates[name].append(rate)
    base = statistics.median(bare_rates)
    print(f"  bare pyserial-asyncio-fast readline loop : {base:10,.0f} lines/s")
    for name, rates in cap_rates.items():
        r = statistics.median(rates)
        verdict = "OK" if r >= 0.5 * base and r >= 20_000 else "BELOW TARGET"
        print(f"  capture → parse, bus, store ({name:10s}) : {r:10,.0f} lines/s "
              f"= {r / base:6.1%} of bare   [{verdict}: ≥ 50 % and ≥ 20 000]")
    for *_, engine in stores:
        await engine.dispose()
    if len(backends) > 1:
        import asyncpg

        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
