"""`daq peel run` and `daq peel results` as an operator runs them (subprocess, real
SQLite file, in-process simulator on an accelerated clock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAQ = [str(Path(sys.executable).parent / "daq")]


#: One clock origin for every command of a test, as the lab's processes share one.
ORIGIN = repr(time.time())


def daq(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DAQ_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "DAQ_TIME_SCALE": "1200", "DAQ_TIME_ORIGIN": ORIGIN,
                "DAQ_MQTT_URL": "mqtt://127.0.0.1:1", "COLUMNS": "120"}
    full_env.pop("DAQ_CONFIG", None)
    return subprocess.run([*DAQ, *args], capture_output=True, text=True, env=full_env,
                          timeout=60, check=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lab.db"


def test_peel_run_creates_records_traces_and_prints_the_result(db: Path) -> None:
    out = daq("peel", "run", "--specimen", "EX4-2026-011-A1", "--laminate", "EX4-2026-011-L1",
              db=db)
    assert out.returncode == 0, out.stderr
    assert "peel strength" in out.stdout and "N/cm" in out.stdout
    assert "DONE" in out.stdout
    assert "peel EX4-2026-011-A1" in out.stderr  # the live trace
    assert any(c in out.stderr for c in "▁▂▃▄▅▆▇█")
    assert "Traceback" not in out.stderr
    # The broker at port 1 is away: the result waits in the outbox, said plainly.
    assert "waits in the outbox" in out.stderr


def test_peel_results_lists_specimens_and_mean_sd_per_condition(db: Path) -> None:
    for n, aging in ((1, "0"), (2, "0"), (3, "1000")):
        out = daq("peel", "run", "--specimen", f"LOT7-A{n}", "--sample", "LOT7",
                  "--material", "EX2", "--aging-hours", aging, "--json", db=db)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["status"] == "DONE" and data["sample_id"] == "LOT7"
    out = daq("peel", "results", "--sample", "LOT7", "--json", db=db)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [t["specimen"] for t in data["tests"]] == ["LOT7-A1", "LOT7-A2", "LOT7-A3"]
    conditions = {c["aging_hours"]: c for c in data["conditions"]}
    assert conditions[0.0]["n_specimens"] == 2 and conditions[1000.0]["n_specimens"] == 1
    assert 9.0 < conditions[0.0]["mean_n_per_cm"] < 11.0
    assert 5.0 < conditions[1000.0]["mean_n_per_cm"] < 7.0
    table = daq("peel", "results", "--sample", "LOT7", db=db)
    assert table.returncode == 0
    assert "mean ± sd N/cm" in table.stdout and "LOT7-A3" in table.stdout


def test_no_film_material_is_refused_with_a_clear_message(db: Path) -> None:
    out = daq("peel", "run", "--specimen", "CMP3-2026-001-A1", db=db)
    assert out.returncode == 2
    assert "no film: polyimide insoluble" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_specimen_without_material_is_refused(db: Path) -> None:
    out = daq("peel", "run", "--specimen", "MYSTERY", db=db)
    assert out.returncode == 2
    assert "--sample LOT --material KEY" in out.stderr


def test_peel_run_against_a_separate_simulator_process_links_the_aging_state(
    db: Path, tmp_path: Path
) -> None:
    link = tmp_path / "peel-tester"
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulators.peel", "--link", str(link), "--time-scale", "1200",
         "--time-origin", ORIGIN],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert sim.stdout is not None
        assert sim.stdout.readline().strip() == f"ASRL{link}::INSTR"
        out = daq("peel", "run", "--specimen", "EX2-2026-030-B1", "--aging-hours", "1000",
                  "--resource", f"ASRL{link}::INSTR", "--json", "--no-trace", db=db)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        # Example 2 after 1000 h is 6 N/cm (as made: 10): the tester was told the state.
        assert 5.0 < data["result"]["peel_strength_n_per_cm"] < 7.0
        refused = daq("peel", "run", "--specimen", "EX2-2026-031-A1", "--laminate", "L9",
                      "--press-run", "press-000000000000", "--resource", f"ASRL{link}::INSTR",
                      db=db)
        assert refused.returncode == 2 and "no press run" in refused.stderr
    finally:
        sim.terminate()
        sim.wait(10)
