"""The Table 1 campaign end to end: real time per phase against simulated time.

    .venv/bin/python bench/campaign.py [campaigns/table1.toml]

Runs `daq campaign run` in a child process on a fresh SQLite database with the embedded
broker, then reads back, per kind of step, how much simulated time the steps covered and
at which scale, and prints for each phase: steps, simulated hours, ideal real seconds
(simulated / scale: exact, since the clock is linear within a phase) and, as the
difference to the measured total, what lies outside the steps (process start, station
start and stop, migrations, the final table). Then it times `daq report`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daq.campaign.model import load_campaign  # noqa: E402

DAQ = str(Path(sys.executable).parent / "daq")


async def _daq(*args: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(DAQ, *args, env=env,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode:
        raise SystemExit(f"daq {' '.join(args)} failed: {err.decode()[-800:]}")
    return time.perf_counter() - t0


async def main(path: Path) -> None:
    campaign, _ = load_campaign(path)
    scale = {"samples": campaign.time.press_scale, "press": campaign.time.press_scale,
             "peel": campaign.time.peel_scale, "aging": campaign.time.aging_scale,
             "pullout": campaign.time.aging_scale, "laser": campaign.time.laser_scale}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
        env.update({"DAQ_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "DAQ_MQTT_URL": "embedded",
                    "DAQ_EMBEDDED_MQTT_PORT": "0", "DAQ_MQTT_PREFIX": "lamina/bench-campaign"})
        total_s = await _daq("campaign", "run", str(path), env=env)
        report_s = await _daq("report", str(path), "--out", str(Path(tmp) / "report"), env=env)
        with sqlite3.connect(db) as conn:
            rows = list(conn.execute("SELECT kind, started_ts, ended_ts FROM campaign_steps"))
    sim_s: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for kind, start, end in rows:
        sim_s[kind] += (end or start) - (start or 0.0)
        count[kind] += 1
    print(f"campaign {campaign.id}: {len(rows)} steps, real {total_s:.1f} s "
          f"(process start, station, migrations, all steps, table)")
    print(f"{'phase':8} {'steps':>5} {'sim h':>9} {'scale':>9} {'real s':>8}")
    ideal_total = 0.0
    for kind in ("samples", "press", "peel", "aging", "pullout", "laser"):
        ideal = sim_s[kind] / scale[kind]
        ideal_total += ideal
        print(f"{kind:8} {count[kind]:5d} {sim_s[kind] / 3600:9.2f} {scale[kind]:9.0f} "
              f"{ideal:8.1f}")
    sim_total_h = sum(sim_s.values()) / 3600
    print(f"simulated {sim_total_h:.0f} h in {total_s:.1f} s real: "
          f"{sim_total_h * 3600 / total_s:,.0f}× overall; steps {ideal_total:.1f} s, "
          f"outside the steps {total_s - ideal_total:.1f} s "
          f"({100 * (total_s - ideal_total) / total_s:.0f} %)")
    print(f"daq report: {report_s:.1f} s (figures from stored readings and curves)")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "campaigns/table1.toml"))
