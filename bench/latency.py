"""End-to-end latency of the data plane: 100 simulated instruments polled at 10 Hz.

Three processes, like a real station: the press simulators (100 TCP servers), the
station (``daq.station.lab.Lab`` configured with the 100 resources, so the real path:
driver → poller → bus → ReadingWriter → database, and → MqttPublisher → broker), and an
MQTT subscriber. For every reading: sample time (``ts``, simulated time at scale 1 =
wall time) → received by the subscriber, and → committed in the database (the writer
commits its buffer in FIFO order; the bench follows ``rows_written`` every few ms).
Prints p50/p99/max of both and the loss count. Targets: p99 < 50 ms to MQTT, < 1 s to the
database, no loss.

    .venv/bin/python bench/latency.py [--instruments 100] [--rate-hz 10] [--duration 60]
        [--mqtt mqtt://127.0.0.1:1883 | embedded] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)

from sqlalchemy import func, select  # noqa: E402

from daq.config import InstrumentConfig, Settings  # noqa: E402
from daq.messages import Reading  # noqa: E402
from daq.station.lab import Lab  # noqa: E402
from daq.storage.models import ReadingRow  # noqa: E402

SIMULATORS = """
import asyncio, sys
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer
async def main(n):
    clock = Clock(1.0)
    servers = [TcpServer(PressSimulator(clock, seed=i)) for i in range(n)]
    for s in servers:
        print(await s.start(), flush=True)
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1])))
"""

SUBSCRIBER = """
import asyncio, json, sys, time
from array import array
import aiomqtt
async def main(port, topic, seconds, out):
    # flat arrays and str lists: nothing here for the garbage collector to walk
    lat, seen_topic, seen_ts = array("d"), [], array("d")
    async with aiomqtt.Client("127.0.0.1", port) as c:
        await c.subscribe(topic, qos=0)
        print("ready", flush=True)
        async def collect():
            async for m in c.messages:
                now = time.time()
                body = json.loads(m.payload)
                lat.append(now - body["ts"])
                seen_topic.append(str(m.topic))
                seen_ts.append(body["ts"])
        try:
            await asyncio.wait_for(collect(), seconds)
        except TimeoutError:
            pass
    with open(out, "w") as fh:
        json.dump({"latencies": list(lat), "seen": list(zip(seen_topic, seen_ts))}, fh)
asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]))
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def line(label: str, values: list[float], target_s: float) -> str:
    p50, p99 = pct(values, 0.5) * 1e3, pct(values, 0.99) * 1e3
    ok = "meets" if p99 / 1e3 < target_s else "MISSES"
    return (f"{label:<28} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   max {max(values) * 1e3:8.1f} ms"
            f"   ({ok} target p99 < {target_s * 1e3:g} ms)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0, help="real seconds")
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--database", default=None, help="default: a SQLite file in /tmp")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lamina-latency-"))
    env = {**os.environ, "PYTHONPATH": ROOT}
    sims = subprocess.Popen(  # noqa: ASYNC220 - the bench owns these processes
        [sys.executable, "-c", SIMULATORS, str(args.instruments)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert sims.stdout is not None
    resources = [sims.stdout.readline().strip() for _ in range(args.instruments)]
    prefix = f"lamina/bench-{secrets.token_hex(3)}"
    settings = Settings(
        database_url=args.database or f"sqlite+aiosqlite:///{tmp / 'latency.db'}",
        mqtt_url=args.mqtt, mqtt_prefix=prefix, embedded_mqtt_port=0, time_scale=1.0,
        instruments={f"press{i:03d}": InstrumentConfig(
            driver="lamination_press", resource=r, poll_interval_s=1.0 / args.rate_hz)
            for i, r in enumerate(resources)},
    )
    print(f"{args.instruments} instruments × {args.rate_hz:g} Hz for {args.duration:g} s; "
          f"MQTT {args.mqtt}; database {settings.database_url.split('://')[0]}")
    try:
        async with Lab(settings) as lab:
            port = lab.broker.port if lab.broker is not None else lab.publisher.port
            sub = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-c", SUBSCRIBER, str(port), f"{prefix}/instruments/+/readings",
                 str(args.duration + 3), str(tmp / "sub.json")],
                stdout=subprocess.PIPE, text=True, env=env)
            assert sub.stdout is not None
            sub.stdout.readline()
            # From here on every reading goes to both the writer and us, in the same order;
            # rows the writer holds already are committed before ours (FIFO).
            taken = lab.bus.subscribe("bench", (Reading,), maxsize=10_000_000)
            base_rows = (lab.writer.stats.rows_written + len(lab.writer._buffer)
                         + lab.writer.subscription.depth() * 4)  # 4 channels per press poll
            start = time.time()
            # Keep what we measure in flat arrays, and drain the subscription as we go, so
            # that the bench itself does not grow the heap the garbage collector walks.
            commit_wall, commit_rows = array("d"), array("q")
            sample_ts, sample_instrument = array("d"), []

            def drain() -> None:
                for r in taken.get_batch(1_000_000):
                    if isinstance(r, Reading):
                        sample_ts.append(r.ts)
                        sample_instrument.append(r.instrument)

            while time.time() - start < args.duration:
                commit_wall.append(time.time())
                commit_rows.append(lab.writer.stats.rows_written - base_rows)
                drain()
                await asyncio.sleep(0.002)
            for poller in lab.pollers.values():
                await poller.stop()
            drain()
            await lab.writer.flush()
            commit_wall.append(time.time())
            commit_rows.append(lab.writer.stats.rows_written - base_rows)
            channels = 4  # temp_top, temp_bottom, pressure, ram
            db_lat: list[float] = []
            k = 0
            for i, ts in enumerate(sample_ts):
                need = (i + 1) * channels
                while k < len(commit_rows) and commit_rows[k] < need:
                    k += 1
                if k < len(commit_rows):
                    db_lat.append(commit_wall[k] - ts)
            first_ts = min(sample_ts, default=0.0)
            last_ts = max(sample_ts, default=0.0)
            async with lab.sessions() as session:
                stored = await session.scalar(select(func.count(ReadingRow.id)).where(
                    ReadingRow.ts >= first_ts, ReadingRow.ts <= last_ts))
            sub.wait(args.duration + 30)
            polls = sum(p.polls for p in lab.pollers.values())
            errors = sum(p.errors for p in lab.pollers.values())
            mqtt_stats = lab.publisher.stats
    finally:
        sims.terminate()
        sims.wait(10)
    received = json.loads((tmp / "sub.json").read_text())
    n_readings = len(sample_ts)
    topics = {f"{prefix}/instruments/{name}/readings" for name in set(sample_instrument)}
    ours = {(t, ts) for t, ts in received["seen"] if t in topics and first_ts <= ts <= last_ts}
    mqtt_lat = received["latencies"]
    expected_rate = args.instruments * args.rate_hz
    print(f"readings taken {n_readings} ({n_readings / args.duration:,.0f}/s, target "
          f"{expected_rate:,.0f}/s), poll errors {errors}, polls {polls}")
    print(line("sample → MQTT subscriber", mqtt_lat, 0.050))
    print(line("sample → committed in DB", db_lat, 1.0))
    mqtt_loss = n_readings - len(ours)
    db_loss = n_readings * channels - int(stored or 0)
    print(f"loss: MQTT {mqtt_loss} of {n_readings} (publisher dropped "
          f"{mqtt_stats.readings_dropped}), database {db_loss} rows of "
          f"{n_readings * channels} (bus dropped "
          f"{sum(s.dropped for s in lab.bus.subscriptions)})")


if __name__ == "__main__":
    from drivers.transport.loop import run

    run(main())
