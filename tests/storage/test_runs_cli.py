"""`daq runs` and `daq db` as an operator runs them: real processes on a real database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daq.bus import Bus
from daq.messages import Reading, RunEvent
from daq.record import RunInfo
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.readings import ReadingWriter
from daq.storage.recorder import DbRecorder
from tests.conftest import NO_STATION_URL
from tests.storage.helpers import press_reading

DAQ = str(Path(sys.executable).with_name("daq"))
RUN = "press-3f9a1c0b7e21"


async def daq(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
    env["DAQ_STATION_URL"] = NO_STATION_URL  # none answers: `daq runs` reads the database
    if url is not None:
        env["DAQ_DATABASE_URL"] = url
    return await asyncio.to_thread(
        subprocess.run, [DAQ, *args], capture_output=True, text=True, env=env, timeout=60
    )


async def _record_a_cycle(engine: Any, sessions: Any) -> None:
    bus = Bus()
    recorder = DbRecorder(sessions, bus)
    await recorder.start_run(RunInfo(RUN, "press_cycle", "press1", 1000.0,
                                     {"temp_c": 200.0}, "ana", "EX1-2026-001"))
    await recorder.event(RunEvent(RUN, 1001.0, "transition", {"from": "PRECHECK", "to": "HEAT"}))
    writer = ReadingWriter(engine, bus.subscribe("storage", (Reading,)))
    for i in range(40):
        bus.publish(press_reading(1000.0 + i * 0.5, RUN))
    assert await writer.flush()
    await recorder.finish_run(RUN, 1100.0, "DONE", None, {"dwell_s": 60.0})
    await recorder.start_run(RunInfo("press-000000000001", "press_cycle", "press1", 500.0))
    await recorder.finish_run("press-000000000001", 600.0, "ABORTED", "operator abort", {})


async def test_list_show_and_export_agree_with_the_record(
    db_url: str, engine: Any, sessions: Any, tmp_path: Path
) -> None:
    await _record_a_cycle(engine, sessions)

    out = tmp_path / "run.json"
    # Independent commands run side by side: each process pays the CLI's start-up.
    listed, aborted_, shown_, exported, result = await asyncio.gather(
        daq("runs", "list", "--json", url=db_url),
        daq("runs", "list", "--status", "aborted", "--json", url=db_url),
        daq("runs", "show", RUN, "--json", url=db_url),
        daq("runs", "export", RUN, "--format", "csv", url=db_url),
        daq("runs", "export", RUN, "--format", "json", "--out", str(out), url=db_url),
    )
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    # Newest first by wall-clock start, as the API and the dashboard list them: the run
    # recorded second comes first though its simulated start (500 s) is the earlier.
    assert [r["id"] for r in runs] == ["press-000000000001", RUN]
    assert runs[1]["status"] == "DONE" and runs[1]["readings_stored"] == 120
    aborted = json.loads(aborted_.stdout)
    assert [r["reason"] for r in aborted] == ["operator abort"]

    shown = json.loads(shown_.stdout)
    assert shown["run"]["sample_id"] == "EX1-2026-001"
    assert [e["kind"] for e in shown["events"]] == ["note", "transition", "result"]
    assert {c["channel"]: c["count"] for c in shown["channels"]} == {
        "pressure": 40, "temp_bottom": 40, "temp_top": 40}

    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 120
    assert list(rows[0]) == ["ts", "time", "instrument", "channel", "value", "unit", "replayed"]
    assert rows[0]["time"] == "1970-01-01T00:16:40.000+00:00"
    assert float(rows[-1]["ts"]) == 1019.5 and rows[-1]["replayed"] == "false"

    assert result.returncode == 0 and "exported 120 readings" in result.stderr
    body = json.loads(out.read_text())
    assert body["run"]["id"] == RUN and len(body["readings"]) == 120
    assert body["readings"][0]["unit"] in ("degC", "MPa")


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[Any]:
    """A SQLite database with the schema (for tests that need only one backend)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    await create_all(engine)
    yield engine
    await engine.dispose()


async def test_human_output_names_the_run_and_its_phases(sqlite_engine: Any) -> None:
    url = str(sqlite_engine.url)
    await _record_a_cycle(sqlite_engine, session_factory(sqlite_engine))
    listed = await daq("runs", "list", url=url)
    assert listed.returncode == 0, listed.stderr
    assert RUN in listed.stdout and "ABORTED" in listed.stdout
    shown = await daq("runs", "show", RUN, url=url)
    assert "PRECHECK" in shown.stdout and "temp_bottom" in shown.stdout


ERROR_CASES = [
    (("runs", "show", "press-ffffffffffff"), "{db}", 1, "no run 'press-ffffffffffff'"),
    (("runs", "export", "press-ffffffffffff"), "{db}", 1, "no run"),
    (("runs", "list"), "sqlite+aiosqlite:///{tmp}/absent.db", 2, "no database file"),
    (("runs", "list"), "postgresql+asyncpg://postgres@127.0.0.1:1/none", 2,
     "cannot reach the database"),
    (("runs", "list"), "mysql://somewhere/db", 2, "not supported"),
]


async def test_errors_are_one_clear_line_and_a_nonzero_exit(
    sqlite_engine: Any, tmp_path: Path
) -> None:
    results = await asyncio.gather(*(
        daq(*args, url=url.format(db=sqlite_engine.url, tmp=tmp_path))
        for args, url, _, _ in ERROR_CASES
    ))
    for (args, _, code, message), result in zip(ERROR_CASES, results, strict=True):
        assert (result.returncode, message in result.stderr) == (code, True), (args, result)
        assert "Traceback" not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()) == 1


async def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    # Migrations themselves are tested on both backends in test_migrations.py.
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    first = await daq("db", "upgrade", url=db_url)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty to" in first.stdout
    again, listed = await asyncio.gather(
        daq("db", "upgrade", "--url", db_url, url=None), daq("runs", "list", "--json", url=db_url)
    )
    assert again.returncode == 0 and "already at revision" in again.stdout
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
