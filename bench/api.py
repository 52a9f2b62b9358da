"""Operator API throughput: small reads beside a bare FastAPI endpoint, readings of a
20-minute cycle over HTTP, and live fan-out.

Two processes, like a station and its users: the station (``daq.station.lab.Lab`` with the
simulated press, SQLite, the embedded broker, ``create_app`` under uvicorn) and this
client process.

0. ``GET /health`` and ``GET /api/instruments`` (the station with its four simulated
   instruments polling) with ``--read-clients`` concurrent clients, beside a bare FastAPI
   endpoint in a process of its own served the same way, taking turns a second each for
   ``--seconds`` rounds: req/s, the ratio, p50 and p99.
1. ``GET /api/runs/{id}/readings`` of a stored press cycle with a 20-minute dwell (the
   patent's recipe: heat 17.5 min, dwell 20, cool; 62 simulated minutes polled at 5 Hz,
   4 channels = 74 400 rows): requests/s and p50/p99 of a 1000-row JSON page with
   ``--concurrency`` clients, next to the same page read straight from SQLite in this
   process (the plain rate; ratio = API / plain); and the full CSV export (rows/s).
2. ``WS /api/stream`` to 50 clients while the station's bus carries ``--rate`` readings/s
   (the press poller plus a feeder in the station process, stamped with wall time at
   scale 1): delivered, dropped, and the lag (stamp → received) of the slowest client.

    .venv/bin/python bench/api.py [--seconds 8] [--concurrency 8] [--clients 50] [--rate 200]
        [--read-clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)

import httpx  # noqa: E402
import websockets  # noqa: E402

CYCLE_MIN = 62.0
POLL_HZ = 5.0


def cycle_rows(run_id: str, t0: float) -> list[dict[str, Any]]:
    """Readings of a default cycle: ramp 25→200 °C at 10 °C/min, 3 MPa, dwell 20 min, cool."""
    rows: list[dict[str, Any]] = []
    n = int(CYCLE_MIN * 60 * POLL_HZ)
    for i in range(n):
        t_min = i / POLL_HZ / 60
        temp = min(200.0, 25 + 10 * t_min) if t_min < 40 else max(60.0, 200 - 7 * (t_min - 40))
        pres = 3.0 if 18 <= t_min < 60 else 0.0
        wobble = 0.1 * math.sin(i)
        for channel, value, unit in (
            ("temp_top", temp + wobble, "degC"),
            ("temp_bottom", temp - wobble, "degC"),
            ("pressure", pres, "MPa"),
            ("ram", 25.0 if pres else 0.0, "mm"),
        ):
            rows.append({"run_id": run_id, "instrument": "press1", "channel": channel,
                         "ts": t0 + i / POLL_HZ, "value": value, "unit": unit,
                         "replayed": False})
    return rows


async def station(db: str, port: int, rate: float, ready: Any, stop: Any) -> None:
    """The station process: Lab + API on ``port``; feeds the bus at ``rate`` readings/s."""
    from sqlalchemy import insert

    from daq.api import accounts, create_app
    from daq.config import Settings
    from daq.messages import Reading, Value
    from daq.record import RunInfo
    from daq.station.heap import freeze_startup_heap
    from daq.station.lab import Lab
    from daq.storage.models import ReadingRow
    from tests.api.server import serve

    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", mqtt_url="embedded",
                        embedded_mqtt_port=0, time_scale=1.0, mqtt_prefix="lamina/bench-api")
    async with Lab(settings) as lab:
        run_id = "press-bench0000001"
        t0 = lab.clock.now() - CYCLE_MIN * 60
        await lab.recorder.start_run(RunInfo(run_id, "press_cycle", "press1", t0, {}, "bench"))
        rows = cycle_rows(run_id, t0)
        async with lab.sessions() as session:
            for i in range(0, len(rows), 5000):
                await session.execute(insert(ReadingRow), rows[i : i + 5000])
            await session.commit()
            await accounts.add_user(session, "bench", "viewer", "bench-password")
            token, _ = await accounts.issue_token(session, "bench")
        await lab.recorder.finish_run(run_id, t0 + CYCLE_MIN * 60, "DONE", None, {})
        async with serve(create_app(lab), port=port):
            freeze_startup_heap()  # as `daq run` does once the station is up
            ready.put({"run_id": run_id, "token": token, "rows": len(rows)})

            async def feed() -> None:
                period = 1.0 / rate if rate > 0 else 1.0
                next_t = time.monotonic()
                while True:
                    lab.bus.publish(Reading("feeder", time.time(), {"v": Value(1.0, "V")}))
                    next_t += period
                    await asyncio.sleep(max(0.0, next_t - time.monotonic()))

            # The feeder runs only for the fan-out phase ("feed"), until "stop".
            await asyncio.to_thread(stop.get)
            feeder = asyncio.create_task(feed()) if rate > 0 else None
            await asyncio.to_thread(stop.get)
            if feeder:
                feeder.cancel()


def station_main(db: str, port: int, rate: float, ready: Any, stop: Any) -> None:
    asyncio.run(station(db, port, rate, ready, stop))


async def bare(port: int, ready: Any, stop: Any) -> None:
    """The bare floor: a FastAPI app with one JSON endpoint, served the same way as the
    station (uvicorn in an asyncio loop of its own process)."""
    from fastapi import FastAPI

    from tests.api.server import serve

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async with serve(app, port=port):
        ready.put("bare")
        await asyncio.to_thread(stop.get)


def bare_main(port: int, ready: Any, stop: Any) -> None:
    asyncio.run(bare(port, ready, stop))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def http_load(url: str, headers: dict[str, str], seconds: float, concurrency: int,
                    params: dict[str, Any]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:

        async def worker(k: int) -> None:
            offset = 0
            while time.perf_counter() < end:
                t = time.perf_counter()
                r = await client.get(url, params={**params, "offset": offset})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)
                offset = (offset + 7919 * (k + 1)) % 70_000

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


async def plain_sqlite(db: str, run_id: str, seconds: float) -> float:
    """The same 1000-row page straight from SQLite (aiosqlite), one connection."""
    import aiosqlite

    n = 0
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    async with aiosqlite.connect(db) as conn:
        offset = 0
        while time.perf_counter() < end:
            cur = await conn.execute(
                "SELECT ts, instrument, channel, value, unit, replayed FROM readings "
                "WHERE run_id = ? ORDER BY ts, id LIMIT 1000 OFFSET ?", (run_id, offset))
            await cur.fetchall()
            await (await conn.execute(
                "SELECT count(*) FROM readings WHERE run_id = ?", (run_id,))).fetchone()
            n += 1
            offset = (offset + 7919) % 70_000
    return n / (time.perf_counter() - start)


async def fan_out(base: str, token: str, clients: int, seconds: float) -> list[dict[str, Any]]:
    url = base.replace("http://", "ws://") + f"/api/stream?token={token}"
    stats = [{"received": 0, "lags": [], "dropped": 0} for _ in range(clients)]

    async def client(k: int) -> None:
        async with websockets.connect(url, max_queue=None) as ws:
            end = time.time() + seconds
            while time.time() < end:
                try:
                    text = await asyncio.wait_for(ws.recv(), max(0.01, end - time.time()))
                except TimeoutError:
                    break
                now = time.time()
                msg = json.loads(text)
                if msg.get("type") == "reading":
                    stats[k]["received"] += 1
                    stats[k]["lags"].append(now - msg["ts"])
                elif msg.get("type") == "dropped":
                    stats[k]["dropped"] = msg["dropped"]

    await asyncio.gather(*(client(k) for k in range(clients)))
    return stats


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_load(url: str, headers: dict[str, str], seconds: float, clients: int
             ) -> tuple[int, float, float, float] | None:
    """Requests done, seconds taken, p50 and p99 (s) from ``wrk`` (a C load generator,
    so the client is never the bottleneck), or None when wrk is not installed
    (``apt-get install wrk``)."""
    if shutil.which("wrk") is None:
        return None
    cmd = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
           "--latency", url]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk {url}: error answers\n{out}")

    def seconds_of(text: str) -> float:
        units = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
        for unit in ("us", "ms", "s"):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * units[unit]
        raise ValueError(text)

    done = re.search(r"(\d+) requests in ([\d.]+\w+),", out)
    assert done is not None, out
    p50 = seconds_of(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = seconds_of(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return int(done.group(1)), seconds_of(done.group(2)), p50, p99


async def read_load(url: str, headers: dict[str, str], seconds: float, clients: int
                    ) -> tuple[int, float, float, float]:
    """Requests, seconds, p50 and p99 of GET ``url`` with ``clients`` concurrent clients
    (wrk, else httpx)."""
    measured = await asyncio.to_thread(wrk_load, url, headers, seconds, clients)
    if measured is not None:
        return measured
    rps, lat = await http_load(url, headers, seconds, clients, {})
    return len(lat), len(lat) / rps if rps else seconds, pct(lat, .5), pct(lat, .99)


async def small_reads(args: argparse.Namespace, base: str, bare_base: str,
                      headers: dict[str, str]) -> None:
    """``GET /health`` and ``GET /api/instruments`` of the station beside the bare
    FastAPI endpoint, each with ``--read-clients`` concurrent clients.

    The three are measured in turn, a second each, for ``--seconds`` rounds, and each
    one's requests are summed over its rounds: on a shared 2-core machine the rate drifts
    by a fifth from one five-second window to the next, and taking turns puts the same
    drift into all three. p50 is the median of the rounds', p99 the worst round's."""
    tool = "wrk" if shutil.which("wrk") else "httpx (apt-get install wrk for a C client)"
    rounds = max(1, round(args.seconds))
    print(f"small reads, {args.read_clients} concurrent clients, {rounds} rounds of 1 s each "
          f"in turn, load from {tool}:")
    targets = {"bare": (f"{bare_base}/health", {}), "/health": (f"{base}/health", {}),
               "/api/instruments": (f"{base}/api/instruments", headers)}
    done = {name: [0, 0.0] for name in targets}
    p50s: dict[str, list[float]] = {name: [] for name in targets}
    p99s: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, hdrs) in targets.items():
            n, took, p50, p99 = await read_load(url, hdrs, 1.0, args.read_clients)
            done[name][0] += n
            done[name][1] += took
            p50s[name].append(p50)
            p99s[name].append(p99)
    rate = {name: n / took for name, (n, took) in done.items()}
    bare_rps = rate["bare"]
    print(f"  bare FastAPI GET /health       {bare_rps:7.1f} req/s;          p50 "
          f"{statistics.median(p50s['bare']) * 1e3:6.1f} ms, p99 "
          f"{max(p99s['bare']) * 1e3:6.1f} ms")
    for path in ("/health", "/api/instruments"):
        rps, p50, p99 = rate[path], statistics.median(p50s[path]), max(p99s[path])
        verdict = "meets" if rps >= 0.8 * bare_rps and p99 <= 0.100 else "MISSES"
        print(f"  station GET {path:<18} {rps:7.1f} req/s = {rps / bare_rps:.2f}× bare; "
              f"p50 {p50 * 1e3:6.1f} ms, p99 {p99 * 1e3:6.1f} ms "
              f"({verdict} ≥ 0.8× bare and p99 ≤ 100 ms)")


async def client_main(
    args: argparse.Namespace, db: str, base: str, info: dict[str, Any], control: Any,
    bare_base: str,
) -> None:
    headers = {"Authorization": f"Bearer {info['token']}"}
    await small_reads(args, base, bare_base, headers)
    url = f"{base}/api/runs/{info['run_id']}/readings"
    print(f"stored cycle: {info['rows']} readings ({CYCLE_MIN:g} sim min at {POLL_HZ:g} Hz, "
          "4 channels)")
    plain = await plain_sqlite(db, info["run_id"], args.seconds / 2)
    rps, lat = await http_load(url, headers, args.seconds, args.concurrency, {"limit": 1000})
    print(f"JSON page of 1000 readings: {rps:7.1f} req/s ({rps * 1000:,.0f} readings/s) with "
          f"{args.concurrency} clients; p50 {pct(lat, .5) * 1e3:.1f} ms, "
          f"p99 {pct(lat, .99) * 1e3:.1f} ms")
    print(f"  plain SQLite, same page + count, one connection: {plain:7.1f} pages/s "
          f"-> ratio API/plain {rps / plain:.2f}")
    t = time.perf_counter()
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        csv_text = (await client.get(url, params={"format": "csv"})).text
    dt = time.perf_counter() - t
    lines = csv_text.count("\n") - 1
    print(f"full CSV export: {lines} rows in {dt:.2f} s = {lines / dt:,.0f} rows/s "
          f"({len(csv_text) / dt / 1e6:.1f} MB/s)")
    floor: list[str] = []
    for path, hdrs in (("/style.css", {}), ("/health", {}), ("/api/auth/me", headers)):
        path_rps, _ = await http_load(f"{base}{path}", hdrs, args.seconds / 3,
                                      args.concurrency, {})
        floor.append(f"{path} {path_rps:.0f}")
    print(f"  HTTP floor on this machine, req/s: {', '.join(floor)}")

    control.put("feed")
    await asyncio.sleep(0.5)
    stats = await fan_out(base, info["token"], args.clients, args.seconds)
    received = [s["received"] for s in stats]
    worst = max(stats, key=lambda s: pct(s["lags"], 0.99))
    all_lags = [x for s in stats for x in s["lags"]]
    print(f"WebSocket fan-out: {args.clients} clients, bus feed {args.rate:g} readings/s + press "
          f"poller, {args.seconds:g} s")
    print(f"  delivered per client: min {min(received)}, max {max(received)}; "
          f"drops reported: {sum(s['dropped'] for s in stats)}")
    print(f"  lag all clients: p50 {pct(all_lags, .5) * 1e3:.1f} ms, "
          f"p99 {pct(all_lags, .99) * 1e3:.1f} ms")
    print(f"  slowest client: p50 {pct(worst['lags'], .5) * 1e3:.1f} ms, "
          f"p99 {pct(worst['lags'], .99) * 1e3:.1f} ms, max {max(worst['lags']) * 1e3:.1f} ms; "
          f"mean {statistics.fmean(worst['lags']) * 1e3:.1f} ms")
    print(f"  fan-out total: {sum(received) / args.seconds:,.0f} messages/s delivered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="feeder readings/s on the bus")
    parser.add_argument("--read-clients", type=int, default=20,
                        help="concurrent clients of the small reads (/health, /api/instruments)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        port = free_port()
        proc = ctx.Process(target=station_main, args=(db, port, args.rate, ready, stop))
        proc.start()
        bare_port, bare_ready, bare_stop = free_port(), ctx.Queue(), ctx.Queue()
        bare_proc = ctx.Process(target=bare_main, args=(bare_port, bare_ready, bare_stop))
        bare_proc.start()
        try:
            info = ready.get(timeout=120)
            bare_ready.get(timeout=120)
            asyncio.run(client_main(args, db, f"http://127.0.0.1:{port}", info, stop,
                                    f"http://127.0.0.1:{bare_port}"))
        finally:
            bare_stop.put("stop")
            bare_proc.join(30)
            stop.put("feed")
            stop.put("stop")
            proc.join(30)
            if proc.is_alive():
                proc.terminate()


if __name__ == "__main__":
    main()
