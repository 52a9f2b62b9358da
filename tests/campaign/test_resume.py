"""Killing `daq campaign run` (SIGKILL, no clean-up at all) mid-press, mid-aging and
mid-peel, then running the same command again, finishes the campaign with nothing repeated and
nothing lost: one DONE run per step, the cut-short press run on record as INTERRUPTED
and redone, the aging run resumed (not restarted) from its checkpoint."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from daq.campaign.model import load_campaign
from daq.campaign.plan import plan_steps
from tests.campaign.conftest import daq_env, report_data, run_daq, start_daq


def _query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return list(conn.execute(sql, args))
        except sqlite3.OperationalError:  # tables not created yet
            return []


async def _run_until(path: Path, env: dict[str, str], db: Path, sql: str,
                     timeout_s: float = 120.0) -> None:
    """Start the campaign and SIGKILL it as soon as ``sql`` returns a row."""
    proc = await start_daq("campaign", "run", str(path), env=env)
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not _query(db, sql):
            assert proc.returncode is None, "the campaign ended before the kill point"
            assert asyncio.get_running_loop().time() < deadline, f"never reached: {sql}"
            await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def test_campaign_killed_mid_press_aging_and_peel_resumes_without_repeating_or_losing(
    small_campaign: Any, tmp_path: Path
) -> None:
    path = small_campaign(hours=300.0)
    campaign, _ = load_campaign(path)
    db = tmp_path / "campaign.db"
    url = f"sqlite+aiosqlite:///{db}"
    env = daq_env(url)

    # 1. Kill in the middle of the second sample's press cycle (heating, readings flowing).
    await _run_until(path, env, db, (
        "SELECT r.id FROM campaign_steps s JOIN runs r ON r.id = s.run_id "
        "WHERE s.key = 'press:CMP1-T-001' AND s.status = 'RUNNING' AND r.readings_stored > 5"))
    cut_press = _query(db, "SELECT run_id FROM campaign_steps WHERE key = 'press:CMP1-T-001'")
    cut_press_id = cut_press[0][0]
    done_before = {k for (k,) in _query(db, "SELECT key FROM campaign_steps "
                                            "WHERE status = 'DONE'")}
    assert {"samples", "press:EX1-T-001"} <= done_before

    # 2. Run again; kill while the aging run is part-way (≥ 50 h in tolerance).
    await _run_until(path, env, db, (
        "SELECT id FROM aging_runs WHERE status = 'RUNNING' AND in_tolerance_s > 50 * 3600"))
    aging_before = _query(db, "SELECT id, in_tolerance_s FROM aging_runs")
    assert len(aging_before) == 1

    # 3. Run again; kill during the peel of an aged specimen.
    await _run_until(path, env, db, (
        "SELECT run_id FROM campaign_steps WHERE key = 'peel:CMP1-T-001-L1-G1' "
        "AND status = 'RUNNING' AND run_id IS NOT NULL"))
    cut_peel_id = _query(db, "SELECT run_id FROM campaign_steps "
                             "WHERE key = 'peel:CMP1-T-001-L1-G1'")[0][0]

    # 4. Run again to the end.
    code, out, err = await run_daq("campaign", "run", str(path), env=env, timeout_s=120)
    assert code == 0, err[-2000:]
    assert "resuming campaign small" in err and "Table 1 reproduced" in out

    # The cut-short press run is on record, closed honestly, with what it had stored.
    (status, readings), = _query(db, "SELECT status, readings_stored FROM runs WHERE id = ?",
                                 cut_press_id)
    assert status == "INTERRUPTED" and readings > 5
    # Every step done, each step's work done by exactly one DONE run.
    steps = _query(db, "SELECT key, kind, status, run_id, tried_runs FROM campaign_steps "
                       "WHERE campaign_id = 'small' ORDER BY seq")
    assert [s[0] for s in steps] == [p.key for p in plan_steps(campaign)]
    assert all(s[2] == "DONE" for s in steps)
    runs = _query(db, "SELECT id, kind, status, sample_id FROM runs")
    done = Counter((kind, sample) for _, kind, status, sample in runs if status == "DONE")
    assert done[("press_cycle", "EX1-T-001")] == 1
    assert done[("press_cycle", "CMP1-T-001")] == 1
    assert done[("laser_job", "EX1-T-001")] == 1 and done[("laser_job", "CMP1-T-001")] == 1
    assert not any(sample == "CMP2-T-001" for *_, sample in runs)  # no film, nothing made
    interrupted = [r for r in runs if r[2] == "INTERRUPTED"]
    assert [r[0] for r in interrupted if r[1] == "press_cycle"] == [cut_press_id]
    peel_cut = [r for r in runs if r[0] == cut_peel_id]  # absent if killed before it began
    assert all(r[2] == "INTERRUPTED" for r in peel_cut)
    assert _query(db, "SELECT status FROM campaign_steps WHERE key = "
                      "'peel:CMP1-T-001-L1-G1'") == [("DONE",)]
    # Peel: one DONE peel per specimen (2 as made + 2 aged per film sample).
    peels = Counter(s for (s,) in _query(db, "SELECT specimen_id FROM peel_tests "
                                             "WHERE status = 'DONE'"))
    assert len(peels) == 8 and set(peels.values()) == {1}
    # The aging run was resumed, not started again, and completed its hours.
    aging = _query(db, "SELECT id, status, resumes, in_tolerance_s FROM aging_runs")
    assert len(aging) == 1 and aging[0][0] == aging_before[0][0]
    assert aging[0][1] == "DONE" and aging[0][2] >= 1 and aging[0][3] >= 300 * 3600
    # Simulated time never ran backwards across the restarts.
    starts = [ts for (ts,) in _query(db, "SELECT started_ts FROM runs ORDER BY rowid")]
    assert starts == sorted(starts)

    data = await report_data(url, "small")
    assert data.status == "DONE"
    rows = {r.lot: r for r in data.table}
    assert rows["EX1-T-001"].laser_grade == "O" and rows["CMP1-T-001"].laser_grade == "X"
    assert rows["CMP2-T-001"].no_film
    assert abs((rows["EX1-T-001"].as_made.mean or 0) - 9.0) <= 0.5
