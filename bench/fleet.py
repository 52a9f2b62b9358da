"""A fleet: 8 station processes × 4 simulated instruments on one Mosquitto (by default a
private one with ``set_tcp_nodelay``, bench/_broker.py) and one PostgreSQL, for 60 s.

Each station is a real ``daq run`` with its own ``daq.toml``: its own station name, MQTT
prefix and HTTP port, and four simulated presses (TCP, one simulator process for the
fleet) polled at 10 Hz, with instrument names unique in the fleet (readings share one
table). The bench makes a fresh PostgreSQL database, migrates it once (``daq db
upgrade``), starts the stations one after another, then for ``--duration`` seconds:

* a subscriber process takes every reading of every station from the broker
  (sample time → received);
* this process follows the readings table (``id`` order, every 20 ms) and stamps each
  row when it first sees it committed (sample time → committed);
* each station's RSS is sampled every second.

The stations are then stopped (SIGTERM: they flush), and for each station the bench
prints readings, loss on MQTT and in the database (readings of the window that one side
has and the other lacks; the union is what the stations took), p99 to MQTT and to the
database, and the peak RSS. Targets (issue 16): zero loss, p99 to MQTT ≤ 50 ms, RSS ≤
120 MB per station.

    .venv/bin/python bench/fleet.py [--stations 8] [--instruments 4] [--rate-hz 10]
        [--duration 60] [--pg-host 127.0.0.1] [--pg-user postgres]
        [--mqtt private | mqtt://127.0.0.1:1883]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402

from bench._broker import mqtt_url  # noqa: E402
from bench.latency import SIMULATORS, pct  # noqa: E402

SUBSCRIBER = """
import asyncio, json, sys, time
from array import array
import aiomqtt
async def main(port, topic, seconds, out):
    lat, seen = array("d"), []
    async with aiomqtt.Client("127.0.0.1", port) as c:
        await c.subscribe(topic, qos=0)
        print("ready", flush=True)
        async def collect():
            async for m in c.messages:
                now = time.time()
                body = json.loads(m.payload)
                lat.append(now - body["ts"])
                seen.append((str(m.topic), body["ts"]))
        try:
            await asyncio.wait_for(collect(), seconds)
        except TimeoutError:
            pass
    with open(out, "w") as fh:
        json.dump({"latencies": list(lat), "seen": seen}, fh)
asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]))
"""


@dataclass
class StationFigures:
    """What the bench saw of one station in the window."""

    name: str
    mqtt: set[tuple[str, float]] = field(default_factory=set)
    db: set[tuple[str, float]] = field(default_factory=set)
    mqtt_latency: list[float] = field(default_factory=list)
    db_latency: list[float] = field(default_factory=list)
    rss_mb: float = 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def station_toml(k: int, db_url: str, mqtt: str, prefix: str, port: int,
                 resources: list[str], rate_hz: float) -> str:
    lines = [f'database_url = "{db_url}"', f'mqtt_url = "{mqtt}"',
             f'mqtt_prefix = "{prefix}/s{k}"', f'station = "fleet-s{k}"',
             'http_host = "127.0.0.1"', f"http_port = {port}", "time_scale = 1.0", ""]
    for j, resource in enumerate(resources):
        lines += [f"[instruments.s{k}-press{j}]", 'driver = "lamination_press"',
                  f'resource = "{resource}"', f"poll_interval_s = {1.0 / rate_hz}", ""]
    return "\n".join(lines)


async def wait_http(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"station on port {port} exited with {proc.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"station on port {port} did not answer in {timeout_s:g} s")


async def follow_table(conn: asyncpg.Connection, stop: asyncio.Event,
                       seen: list[tuple[str, float, float]]) -> None:
    """Every 20 ms, the rows committed since the last look: (instrument, ts, seen at)."""
    last = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM readings"))
    while not stop.is_set():
        rows = await conn.fetch(
            "SELECT id, instrument, ts FROM readings WHERE id > $1 ORDER BY id", last)
        now = time.time()
        for r in rows:
            seen.append((r["instrument"], r["ts"], now))
        if rows:
            last = rows[-1]["id"]
        await asyncio.sleep(0.02)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--instruments", type=int, default=4)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--mqtt", default="private",
                        help="private (a Mosquitto of the bench's own, bench/_broker.py) or "
                             "mqtt://127.0.0.1:port")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        await fleet(args, mqtt_url(args.mqtt, stack))


async def fleet(args: argparse.Namespace, mqtt: str) -> None:
    """Start the stations on broker ``mqtt``, measure, stop them, print per station."""
    tmp = Path(tempfile.mkdtemp(prefix="lamina-fleet-"))
    env = {**os.environ, "PYTHONPATH": ROOT}
    for name in list(env):
        if name.startswith("DAQ_"):
            del env[name]  # each station's daq.toml says everything
    db_name = f"lamina_fleet_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(host=args.pg_host, user=args.pg_user, database="postgres")
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:5432/{db_name}"
    prefix = f"lamina/fleet-{secrets.token_hex(3)}"
    total = args.stations * args.instruments
    sims = subprocess.Popen([sys.executable, "-c", SIMULATORS, str(total)],  # noqa: ASYNC220
                            stdout=subprocess.PIPE, text=True, env=env)
    assert sims.stdout is not None
    resources = [sims.stdout.readline().strip() for _ in range(total)]
    daq = str(Path(sys.executable).parent / "daq")
    stations: list[tuple[subprocess.Popen[bytes], psutil.Process, StationFigures]] = []
    print(f"fleet: {args.stations} stations × {args.instruments} simulated presses at "
          f"{args.rate_hz:g} Hz, one Mosquitto ({mqtt}), one PostgreSQL "
          f"({db_name}), {args.duration:g} s")
    try:
        subprocess.run([daq, "db", "upgrade"], check=True, capture_output=True,  # noqa: ASYNC221
                       env={**env, "DAQ_DATABASE_URL": db_url})
        for k in range(args.stations):
            port = free_port()
            config = tmp / f"s{k}.toml"
            mine = resources[k * args.instruments:(k + 1) * args.instruments]
            config.write_text(station_toml(k, db_url, mqtt, prefix, port, mine, args.rate_hz))
            log = (tmp / f"s{k}.log").open("wb")
            proc = subprocess.Popen(  # noqa: ASYNC220 - the bench owns these processes
                [daq, "run", "--config", str(config)], stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
            await wait_http(port, proc)
            stations.append((proc, psutil.Process(proc.pid), StationFigures(f"fleet-s{k}")))
        print(f"  {args.stations} stations up; measuring")
        sub_out = tmp / "sub.json"
        sub = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", SUBSCRIBER, mqtt.rsplit(":", 1)[1],
             f"{prefix}/+/instruments/+/readings",
             str(args.duration + 5), str(sub_out)],
            stdout=subprocess.PIPE, text=True, env=env)
        assert sub.stdout is not None
        sub.stdout.readline()
        conn = await asyncpg.connect(host=args.pg_host, user=args.pg_user, database=db_name)
        stop = asyncio.Event()
        table: list[tuple[str, float, float]] = []
        follower = asyncio.create_task(follow_table(conn, stop, table))
        t0 = time.time() + 1.0  # the window in sample time
        t1 = t0 + args.duration - 2.0
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            for _, ps, fig in stations:
                fig.rss_mb = max(fig.rss_mb, ps.memory_info().rss / 1e6)
            await asyncio.sleep(1.0)
        for proc, _, _ in stations:
            proc.send_signal(signal.SIGTERM)
        for proc, _, _ in stations:
            proc.wait(60)
        await asyncio.sleep(0.1)
        stop.set()
        await follower
        await conn.close()
        sub.wait(args.duration + 60)
    finally:
        for proc, _, _ in stations:
            if proc.poll() is None:
                proc.kill()
        sims.terminate()
        sims.wait(10)
    by_instrument = {f"s{k}-press{j}": stations[k][2]
                     for k in range(args.stations) for j in range(args.instruments)}
    received = json.loads(sub_out.read_text())
    for (topic, ts), latency in zip(received["seen"], received["latencies"], strict=True):
        fig = by_instrument.get(topic.split("/")[-2])
        if fig is not None and t0 <= ts <= t1:
            fig.mqtt.add((topic.split("/")[-2], ts))
            fig.mqtt_latency.append(latency)
    first_seen: dict[tuple[str, float], tuple[int, float]] = {}
    for instrument, ts, seen_at in table:
        key = (instrument, ts)
        rows, _ = first_seen.get(key, (0, seen_at))
        first_seen[key] = (rows + 1, seen_at)  # the reading is in when its last row is
    channels = collections.Counter(rows for rows, _ in first_seen.values())
    for (instrument, ts), (_, seen_at) in first_seen.items():
        fig = by_instrument.get(instrument)
        if fig is not None and t0 <= ts <= t1:
            fig.db.add((instrument, ts))
            fig.db_latency.append(seen_at - ts)
    print(f"{'station':<10} {'readings':>8} {'/s':>6} {'MQTT lost':>9} {'DB lost':>8} "
          f"{'MQTT p99':>9} {'DB p99':>8} {'RSS MB':>7}")
    all_mqtt: list[float] = []
    all_db: list[float] = []
    lost_mqtt = lost_db = readings = 0
    window = t1 - t0
    for _, _, fig in stations:
        union = fig.mqtt | fig.db
        readings += len(union)
        lost_mqtt += len(union - fig.mqtt)
        lost_db += len(union - fig.db)
        all_mqtt += fig.mqtt_latency
        all_db += fig.db_latency
        print(f"{fig.name:<10} {len(union):>8} {len(union) / window:>6.1f} "
              f"{len(union - fig.mqtt):>9} {len(union - fig.db):>8} "
              f"{pct(fig.mqtt_latency, 0.99) * 1e3:>7.1f}ms "
              f"{pct(fig.db_latency, 0.99) * 1e3:>6.0f}ms {fig.rss_mb:>7.1f}")
    worst_rss = max(fig.rss_mb for _, _, fig in stations)
    ok = (lost_mqtt == 0 and lost_db == 0 and pct(all_mqtt, 0.99) <= 0.050
          and worst_rss <= 120)
    print(f"{'fleet':<10} {readings:>8} {readings / window:>6.1f} {lost_mqtt:>9} {lost_db:>8} "
          f"{pct(all_mqtt, 0.99) * 1e3:>7.1f}ms {pct(all_db, 0.99) * 1e3:>6.0f}ms "
          f"{worst_rss:>7.1f}  ({'meets' if ok else 'MISSES'}: no loss, p99 to MQTT ≤ 50 ms, "
          f"RSS ≤ 120 MB a station)")
    print(f"  rows per reading in the table: {dict(channels)} (4 = every channel); "
          f"sample → MQTT max {max(all_mqtt, default=0) * 1e3:.1f} ms")
    await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    from drivers.transport.loop import run

    run(main())
