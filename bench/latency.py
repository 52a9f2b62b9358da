"""End-to-end latency of the data plane: 100 simulated instruments polled at 10 Hz.

Three processes, like a real station: the press simulators (100 TCP servers), the
station (``daq.station.lab.Lab`` configured with the 100 resources, so the real path:
driver → poller → bus → ReadingWriter → database, and → MqttPublisher → broker), and an
MQTT subscriber. For every reading: sample time (``ts``, simulated time at scale 1 =
wall time) → received by the subscriber, and → committed in the database (the writer
commits its buffer in FIFO order; the bench follows ``rows_written`` every few ms).
Prints p50/p99/max of both and the loss count; the station's own share of the way to
MQTT, sample → written to its socket (``bench/_socket_tap.py``; the rest is the broker
and the subscriber, which share the two cores with the simulators); and beside them,
measured in the same run just before, the floor: a bare aiomqtt client with TCP_NODELAY
publishing reading-sized messages evenly at the same rate to the same subscriber program.
Also the station's longest event-loop stall (``bench/_stalls.py``, with the stacks that
ran in stalls over 5 ms), CPU per reading and RSS. Targets (issue 16): p99 ≤ 10 ms and
max ≤ 50 ms to MQTT, p99 ≤ 1 s to the database, no loss.

    .venv/bin/python bench/latency.py [--instruments 100] [--rate-hz 10] [--duration 60]
        [--mqtt private | mqtt://127.0.0.1:1883 | embedded] [--database URL]
        [--floor-duration 10]

The broker is by default a private Mosquitto with ``set_tcp_nodelay`` (bench/_broker.py).

``measure()`` is also what ``bench/capacity.py`` runs at each step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)

import psutil  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench._broker import mqtt_url  # noqa: E402
from bench._socket_tap import socket_tap  # noqa: E402
from bench._stalls import StallMonitor  # noqa: E402
from daq.config import InstrumentConfig, Settings  # noqa: E402
from daq.messages import Reading  # noqa: E402
from daq.station.heap import freeze_startup_heap  # noqa: E402
from daq.station.lab import Lab  # noqa: E402
from daq.storage.models import ReadingRow  # noqa: E402
from drivers.transport.loop import loop_name  # noqa: E402

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


async def bare_floor(port: int, topic: str, rate: float, seconds: float, env: dict[str, str],
                     out: Path) -> list[float]:
    """The floor: one aiomqtt client with TCP_NODELAY publishing a reading-sized QoS 0
    message every ``1/rate`` s, evenly spaced, to the same subscriber program."""
    import aiomqtt

    from daq.mqtt.publisher import NODELAY

    sub = subprocess.Popen(  # noqa: ASYNC220 - the bench owns this process
        [sys.executable, "-c", SUBSCRIBER, str(port), topic, str(seconds + 3), str(out)],
        stdout=subprocess.PIPE, text=True, env=env)
    assert sub.stdout is not None
    sub.stdout.readline()
    values = {ch: {"v": 150.0, "unit": "degC"} for ch in ("temp_top", "temp_bottom")}
    loop = asyncio.get_running_loop()
    async with aiomqtt.Client("127.0.0.1", port, socket_options=[NODELAY]) as client:
        start = loop.time()
        n = int(rate * seconds)
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            ts = time.time()
            body = {"ts": ts, "time": "", "run_id": None, "values": values, "replayed": False}
            await client.publish(topic, json.dumps(body).encode(), qos=0)
    sub.wait(seconds + 30)
    latencies: list[float] = json.loads(out.read_text())["latencies"]  # noqa: ASYNC240
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def line(label: str, values: list[float], p99_target_s: float,
         max_target_s: float | None) -> str:
    """p50, p99 and max of ``values`` and whether they meet the targets."""
    p50, p99 = pct(values, 0.5), pct(values, 0.99)
    top = max(values, default=float("nan"))
    ok = p99 <= p99_target_s and (max_target_s is None or top <= max_target_s)
    targets = f"p99 ≤ {p99_target_s * 1e3:g} ms" + (
        f", max ≤ {max_target_s * 1e3:g} ms" if max_target_s is not None else "")
    return (f"{label:<28} p50 {p50 * 1e3:7.1f} ms   p99 {p99 * 1e3:7.1f} ms   "
            f"max {top * 1e3:7.1f} ms   ({'meets' if ok else 'MISSES'} {targets})")


@dataclass
class Figures:
    """What one measurement found (latencies in seconds; CPU in seconds over the run)."""

    instruments: int
    rate_hz: float
    duration_s: float
    readings: int
    poll_errors: int
    mqtt_latency: list[float]
    socket_latency: list[float]
    db_latency: list[float]
    mqtt_loss: int
    db_loss_rows: int
    bus_dropped: int
    publisher_dropped: int
    stalls: StallMonitor
    cpu_station_s: float
    cpu_simulators_s: float
    cpu_broker_s: float
    cpu_subscriber_s: float
    rss_station_mb: float

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.duration_s

    def cpu_us_per_reading(self, *, everything: bool) -> float:
        cpu = self.cpu_station_s + (
            self.cpu_simulators_s + self.cpu_broker_s + self.cpu_subscriber_s
            if everything else 0.0)
        return cpu / max(1, self.readings) * 1e6


def _cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def _broker_process(port: int) -> psutil.Process | None:
    """The broker listening on ``port`` on this machine (for its CPU), if we can see it."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN \
                    and conn.pid is not None:
                return psutil.Process(conn.pid)
    except psutil.Error:
        pass
    return None


async def measure(instruments: int, rate_hz: float, duration_s: float, mqtt: str,
                  database: str | None, tmp: Path, env: dict[str, str]) -> Figures:
    """Run the station with ``instruments`` simulated presses at ``rate_hz`` for
    ``duration_s`` and measure every reading to the subscriber and to the database."""
    sims = subprocess.Popen(  # noqa: ASYNC220 - the bench owns these processes
        [sys.executable, "-c", SIMULATORS, str(instruments)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert sims.stdout is not None
    resources = [sims.stdout.readline().strip() for _ in range(instruments)]
    prefix = f"lamina/bench-{secrets.token_hex(3)}"
    settings = Settings(
        database_url=database or f"sqlite+aiosqlite:///{tmp / f'latency-{instruments}.db'}",
        mqtt_url=mqtt, mqtt_prefix=prefix, embedded_mqtt_port=0, time_scale=1.0,
        instruments={f"press{i:03d}": InstrumentConfig(
            driver="lamination_press", resource=r, poll_interval_s=1.0 / rate_hz)
            for i, r in enumerate(resources)},
    )
    me, sims_proc = psutil.Process(), psutil.Process(sims.pid)
    sub_out = tmp / f"sub-{instruments}.json"
    try:
        async with Lab(settings) as lab:
            port = lab.broker.port if lab.broker is not None else lab.publisher.port
            broker = None if lab.broker is not None else _broker_process(port)
            sub = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-c", SUBSCRIBER, str(port), f"{prefix}/instruments/+/readings",
                 str(duration_s + 3), str(sub_out)],
                stdout=subprocess.PIPE, text=True, env=env)
            assert sub.stdout is not None
            sub.stdout.readline()
            sub_proc = psutil.Process(sub.pid)
            freeze_startup_heap()  # as `daq run` does once the station is up
            # From here on every reading goes to both the writer and us, in the same order;
            # rows the writer holds already are committed before ours (FIFO).
            taken = lab.bus.subscribe("bench", (Reading,), maxsize=10_000_000)
            base_rows = (lab.writer.stats.rows_written + len(lab.writer._buffer)
                         + lab.writer.subscription.depth() * 4)  # 4 channels per press poll
            cpu0 = (_cpu_s(me), _cpu_s(sims_proc), _cpu_s(broker), _cpu_s(sub_proc))
            start = time.time()
            monitor = StallMonitor(asyncio.get_running_loop())
            monitor.start()
            # Keep what we measure in flat arrays, and drain the subscription as we go, so
            # that the bench itself does not grow the heap the garbage collector walks.
            commit_wall, commit_rows = array("d"), array("q")
            sample_ts, sample_instrument = array("d"), []

            def drain() -> None:
                for r in taken.get_batch(1_000_000):
                    if isinstance(r, Reading):
                        sample_ts.append(r.ts)
                        sample_instrument.append(r.instrument)

            with socket_tap() as written_ages:
                while time.time() - start < duration_s:
                    commit_wall.append(time.time())
                    commit_rows.append(lab.writer.stats.rows_written - base_rows)
                    drain()
                    await asyncio.sleep(0.002)
            monitor.stop()
            cpu1 = (_cpu_s(me), _cpu_s(sims_proc), _cpu_s(broker), _cpu_s(sub_proc))
            rss_mb = me.memory_info().rss / 1e6
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
            sub.wait(duration_s + 60)
            errors = sum(p.errors for p in lab.pollers.values())
            publisher_dropped = lab.publisher.stats.readings_dropped
            bus_dropped = sum(s.dropped for s in lab.bus.subscriptions)
    finally:
        sims.terminate()
        sims.wait(10)
    received = json.loads(sub_out.read_text())
    n_readings = len(sample_ts)
    topics = {f"{prefix}/instruments/{name}/readings" for name in set(sample_instrument)}
    ours = {(t, ts) for t, ts in received["seen"] if t in topics and first_ts <= ts <= last_ts}
    return Figures(
        instruments=instruments, rate_hz=rate_hz, duration_s=duration_s, readings=n_readings,
        poll_errors=errors, mqtt_latency=received["latencies"],
        socket_latency=list(written_ages), db_latency=db_lat,
        mqtt_loss=n_readings - len(ours), db_loss_rows=n_readings * channels - int(stored or 0),
        bus_dropped=bus_dropped, publisher_dropped=publisher_dropped, stalls=monitor,
        cpu_station_s=cpu1[0] - cpu0[0], cpu_simulators_s=cpu1[1] - cpu0[1],
        cpu_broker_s=cpu1[2] - cpu0[2], cpu_subscriber_s=cpu1[3] - cpu0[3],
        rss_station_mb=rss_mb)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0, help="real seconds")
    parser.add_argument("--mqtt", default="private",
                        help="private (a Mosquitto of the bench's own, bench/_broker.py), "
                             "mqtt://host:port, or embedded")
    parser.add_argument("--database", default=None, help="default: a SQLite file in /tmp")
    parser.add_argument("--floor-duration", type=float, default=10.0,
                        help="real seconds of the bare aiomqtt floor before the station runs")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        await report(args, mqtt_url(args.mqtt, stack))


async def report(args: argparse.Namespace, mqtt: str) -> None:
    """Measure the floor, then the station, on broker ``mqtt``; print the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="lamina-latency-"))
    env = {**os.environ, "PYTHONPATH": ROOT}
    rate = args.instruments * args.rate_hz
    print(f"{args.instruments} instruments × {args.rate_hz:g} Hz for {args.duration:g} s; "
          f"MQTT {args.mqtt} ({mqtt}); database "
          f"{(args.database or 'sqlite+aiosqlite').split('://')[0]}; loop {loop_name()}")
    floor: list[float] = []
    if mqtt != "embedded":
        floor = await bare_floor(
            int(mqtt.rsplit(":", 1)[1]), f"lamina/bench-floor-{secrets.token_hex(3)}",
            rate, args.floor_duration, env, tmp / "floor.json")
    f = await measure(args.instruments, args.rate_hz, args.duration, mqtt, args.database,
                      tmp, env)
    print(f"readings taken {f.readings} ({f.readings_per_s:,.0f}/s, target {rate:,.0f}/s), "
          f"poll errors {f.poll_errors}")
    if floor:
        print(line(f"floor: bare aiomqtt {rate:,.0f}/s", floor, 0.010, 0.050))
    print(line("sample → MQTT subscriber", f.mqtt_latency, 0.010, 0.050))
    print(line("  of it: → station's socket", f.socket_latency, 0.010, 0.050))
    print(line("sample → committed in DB", f.db_latency, 1.0, None))
    print(f"loss: MQTT {f.mqtt_loss} of {f.readings} (publisher dropped "
          f"{f.publisher_dropped}), database {f.db_loss_rows} rows of {f.readings * 4} "
          f"(bus dropped {f.bus_dropped})")
    print(f.stalls.summary())
    print(f"CPU per reading: station {f.cpu_us_per_reading(everything=False):.0f} µs, with "
          f"simulators, broker and subscriber {f.cpu_us_per_reading(everything=True):.0f} µs; "
          f"station RSS {f.rss_station_mb:.0f} MB")


if __name__ == "__main__":
    from drivers.transport.loop import run

    run(main())
