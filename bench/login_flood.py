"""Wrong logins against the press's polling: 20 clients guessing passwords at once.

One station (``daq.station.lab.Lab``: simulated instruments, SQLite, embedded broker) with
its API in the same event loop, as ``daq run`` serves it. Three windows of ``--seconds``
each, one after the other, measuring the press poller's polls per real second:

1. quiet (no logins): the baseline;
2. 20 clients sending wrong logins as fast as they are answered, with the station's
   login throttle (what ships);
3. the same flood with the throttle opened wide (every attempt hashed), to show what
   the throttle and the hashing thread are for.

Target (issue #15): the poll rate under the flood ≥ 0.95 × the quiet rate.

    .venv/bin/python bench/login_flood.py [--seconds 10] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from daq.api import accounts, create_app
from daq.api import throttle as throttle_module
from daq.api.throttle import LoginThrottle
from daq.config import Settings
from daq.station.lab import Lab

TARGET = 0.95


async def poll_rate(lab: Lab, seconds: float) -> float:
    """Polls of press1 per real second over ``seconds``."""
    poller = lab.pollers["press1"]
    before, t0 = poller.polls, time.perf_counter()
    await asyncio.sleep(seconds)
    return (poller.polls - before) / (time.perf_counter() - t0)


async def flood(app: object, clients: int, stop: asyncio.Event) -> list[int]:
    codes: list[int] = []

    async def guesser(i: int) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                     base_url="http://lab") as client:
            while not stop.is_set():
                got = await client.post("/api/auth/token",
                                        json={"username": f"user{i}", "password": "guess"})
                codes.append(got.status_code)

    await asyncio.gather(*(guesser(i) for i in range(clients)))
    return codes


async def flooded_rate(lab: Lab, app: object, clients: int, seconds: float
                       ) -> tuple[float, list[int], int]:
    stop = asyncio.Event()
    hashes = accounts.HASHES.computed
    task = asyncio.create_task(flood(app, clients, stop))
    rate = await poll_rate(lab, seconds)
    stop.set()
    codes = await task
    return rate, codes, accounts.HASHES.computed - hashes


async def main(seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                            mqtt_url="embedded", embedded_mqtt_port=0, time_scale=60.0,
                            journal_dir=Path(tmp) / "journal")
        async with Lab(settings) as lab:
            app = create_app(lab)
            await asyncio.sleep(1.0)  # the pollers settle
            quiet = await poll_rate(lab, seconds)
            throttled, codes, hashes = await flooded_rate(lab, app, clients, seconds)
            app.state.login_throttle = LoginThrottle()
            wide = dict(throttle_module.FREE_FAILURES)
            throttle_module.FREE_FAILURES.update(user=10**9, client=10**9)
            try:
                open_rate, open_codes, open_hashes = await flooded_rate(lab, app, clients,
                                                                        seconds)
            finally:
                throttle_module.FREE_FAILURES.update(wide)
    ratio = throttled / quiet
    print(f"press1 polls/s, {seconds:g} s windows, {clients} clients guessing:")
    print(f"  quiet                  {quiet:7.2f}")
    print(f"  flood, throttled       {throttled:7.2f}  ratio {ratio:.3f}  "
          f"({len(codes)} attempts: {codes.count(401)} hashed 401, {codes.count(429)} "
          f"told to wait 429; {hashes} hashes)")
    print(f"  flood, no throttle     {open_rate:7.2f}  ratio {open_rate / quiet:.3f}  "
          f"({len(open_codes)} attempts, {open_hashes} hashes, in the hashing thread)")
    print(f"target: throttled ≥ {TARGET:.2f} × quiet — {'met' if ratio >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.clients))
