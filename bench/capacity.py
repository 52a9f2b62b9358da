"""How many instruments one station holds: a ramp of simulated presses polled at 10 Hz.

At each step (50, 100, 200, 500, 1000 instruments by default) ``bench/latency.py``'s
``measure()`` runs the real path (simulators over TCP → drivers → pollers → bus →
database and MQTT → a subscriber) for ``--duration`` seconds and this prints readings/s,
p99 sample → MQTT and → database, loss, CPU per reading (the station alone, and end to
end with the simulators, the broker and the subscriber, which share the machine) and the
station's RSS. Then the largest step that kept p99 to MQTT < 50 ms, to the database
< 1 s, and lost nothing. The ramp stops at the first step that misses (larger ones only
miss by more) unless ``--all``.

    .venv/bin/python bench/capacity.py [--steps 50,100,200,500,1000] [--rate-hz 10]
        [--duration 20] [--mqtt private | mqtt://127.0.0.1:1883] [--database URL] [--all]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)

from bench._broker import mqtt_url  # noqa: E402
from bench.latency import Figures, measure, pct  # noqa: E402
from drivers.transport.loop import loop_name, run  # noqa: E402

MQTT_P99_S = 0.050
DB_P99_S = 1.0


def holds(f: Figures) -> bool:
    """The step's bounds: p99 to MQTT < 50 ms, to the database < 1 s, no loss, and the
    rate asked for (a station that falls behind polls less often than configured)."""
    return (pct(f.mqtt_latency, 0.99) < MQTT_P99_S and pct(f.db_latency, 0.99) < DB_P99_S
            and f.mqtt_loss == 0 and f.db_loss_rows == 0 and f.bus_dropped == 0
            and f.readings_per_s >= 0.95 * f.instruments * f.rate_hz)


def row(f: Figures) -> str:
    return (f"{f.instruments:>6} {f.readings_per_s:>10,.0f} {f.instruments * f.rate_hz:>8,.0f} "
            f"{pct(f.mqtt_latency, 0.99) * 1e3:>9.1f} {pct(f.db_latency, 0.99) * 1e3:>9.1f} "
            f"{f.mqtt_loss:>6} {f.db_loss_rows:>8} "
            f"{f.cpu_us_per_reading(everything=False):>8.0f} "
            f"{f.cpu_us_per_reading(everything=True):>8.0f} {f.rss_station_mb:>6.0f} "
            f"{f.stalls.report.longest_s * 1e3:>8.1f}  {'holds' if holds(f) else 'MISSES'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,100,200,500,1000")
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=20.0, help="real seconds per step")
    parser.add_argument("--mqtt", default="private",
                        help="private (a Mosquitto of the bench's own, bench/_broker.py), "
                             "mqtt://host:port, or embedded")
    parser.add_argument("--database", default=None, help="default: a SQLite file per step")
    parser.add_argument("--all", action="store_true", help="run every step, even after a miss")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        await ramp(args, mqtt_url(args.mqtt, stack))


async def ramp(args: argparse.Namespace, mqtt: str) -> None:
    """Run the steps on broker ``mqtt`` and print a row for each."""
    steps = [int(s) for s in args.steps.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="lamina-capacity-"))
    env = {**os.environ, "PYTHONPATH": ROOT}
    print(f"capacity: simulated presses at {args.rate_hz:g} Hz, {args.duration:g} s a step; "
          f"MQTT {args.mqtt} ({mqtt}); database {(args.database or 'sqlite').split('://')[0]}; "
          f"loop {loop_name()}; {os.cpu_count()} CPUs shared by station, simulators, broker "
          "and subscriber")
    print(f"{'instr':>6} {'readings/s':>10} {'asked':>8} {'MQTT p99':>9} {'DB p99':>9} "
          f"{'MQTT':>6} {'DB rows':>8} {'µs/stn':>8} {'µs/all':>8} {'RSS MB':>6} "
          f"{'stall ms':>8}")
    print(f"{'':>6} {'':>10} {'':>8} {'ms':>9} {'ms':>9} {'lost':>6} {'lost':>8}")
    best: Figures | None = None
    for n in steps:
        f = await measure(n, args.rate_hz, args.duration, mqtt, args.database, tmp, env)
        print(row(f), flush=True)
        if holds(f):
            best = f if best is None or f.instruments > best.instruments else best
        elif not args.all:
            break
    if best is None:
        print("no step held (p99 to MQTT < 50 ms, to the database < 1 s, no loss)")
    else:
        print(f"largest step within bounds: {best.instruments} instruments × "
              f"{args.rate_hz:g} Hz = {best.readings_per_s:,.0f} readings/s "
              f"(p99 to MQTT {pct(best.mqtt_latency, 0.99) * 1e3:.1f} ms, to the database "
              f"{pct(best.db_latency, 0.99) * 1e3:.0f} ms, no loss)")


if __name__ == "__main__":
    run(main())
