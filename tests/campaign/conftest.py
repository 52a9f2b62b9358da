"""Helpers of the campaign tests: the `daq` CLI in a real process, a small campaign file,
reading back what a campaign stored."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from daq.report.data import ReportData, load_report_data
from daq.storage.database import create_engine, session_factory

DAQ = str(Path(sys.executable).parent / "daq")
ROOT = Path(__file__).resolve().parents[2]
TABLE1 = ROOT / "campaigns" / "table1.toml"


def daq_env(db_url: str, mqtt_url: str = "embedded", prefix: str | None = None
            ) -> dict[str, str]:
    """Environment of a `daq` process on this test's database and MQTT prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
    env.update({
        "DAQ_DATABASE_URL": db_url, "DAQ_MQTT_URL": mqtt_url,
        "DAQ_MQTT_PREFIX": prefix or f"lamina/test-{secrets.token_hex(4)}",
        "DAQ_EMBEDDED_MQTT_PORT": "0", "DAQ_READINGS_FLUSH_INTERVAL_S": "0.2",
        "COLUMNS": "120",
    })
    return env


async def start_daq(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`daq ARGS…` as a child process (stdout and stderr piped)."""
    return await asyncio.create_subprocess_exec(
        DAQ, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def run_daq(*args: str, env: dict[str, str], timeout_s: float = 240.0
                  ) -> tuple[int, str, str]:
    """Run `daq ARGS…` to the end: exit code, stdout, stderr."""
    proc = await start_daq(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def report_data(db_url: str, campaign_id: str, traces: bool = False) -> ReportData:
    """What the campaign stored, as the report reads it."""
    engine = create_engine(db_url)
    try:
        return await load_report_data(session_factory(engine), campaign_id,
                                      with_traces=traces)
    finally:
        await engine.dispose()


SMALL = """
[campaign]
id = "{id}"
title = "reduced campaign for the resume test"

[peel]
specimens_per_condition = 2

[aging]
hours = {hours}

[laser]
holes = 100

[time]
press_scale = 1200.0
peel_scale = 1200.0
aging_scale = 100000.0
laser_scale = 1200.0

[[samples]]
lot = "EX1-T-001"
material = "EX1"
adhesive_thickness_um = 5.0
expected = {{ peel_as_made_n_per_cm = 9.0, peel_aged_n_per_cm = 7.0, laser_grade = "O" }}

[[samples]]
lot = "CMP1-T-001"
material = "CMP1"
adhesive_thickness_um = 15.0
expected = {{ peel_as_made_n_per_cm = 9.0, peel_aged_n_per_cm = 7.0, laser_grade = "X" }}

[[samples]]
lot = "CMP2-T-001"
material = "CMP2"
adhesive_thickness_um = 0.0
expected = {{ no_film = true }}
"""


@pytest.fixture
def small_campaign(tmp_path: Path) -> Any:
    """Write a reduced campaign file (two film samples, one no-film) and return its path."""

    def write(hours: float = 300.0, campaign_id: str = "small") -> Path:
        path = tmp_path / f"{campaign_id}.toml"
        path.write_text(SMALL.format(id=campaign_id, hours=hours), encoding="utf-8")
        return path

    return write


#: The shipped campaign's own time scales, raised for the test where a faster clock
#: changes no verdict: the aging run (1000 h) reads the oven's log, which holds 2400 h,
#: so at 200 000× the station may fall 43 real seconds behind before a row is lost (at
#: 500 000× it was 17 s, and a machine busy beside stress-ng fell that far behind: a
#: 221 h hole in the trace); the press polls every 50 ms at least, so at 2400× a
#: 20-minute dwell is still 10 polls.
FASTER = {"press_scale": 2400.0, "aging_scale": 200_000.0}


def faster_campaign(folder: Path, **values: float) -> Path:
    """The shipped Table 1 file in ``folder`` with :data:`FASTER` time scales, and any other
    ``key = value`` line of it named in ``values`` set to that value (nothing else changed)."""
    text = TABLE1.read_text()
    for key, value in {**FASTER, **values}.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value!r}", text)
        assert n == 1, key
    path = folder / TABLE1.name
    path.write_text(text)
    return path
