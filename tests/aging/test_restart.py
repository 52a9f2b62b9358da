"""The aging run outlives its process: `daq aging start` is SIGKILLed at about 400 h,
the service resumes it 50 simulated hours later, back-filling the gap from the oven log;
then the CLI reports and pulls specimens (real subprocesses, shared DAQ_TIME_ORIGIN)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daq.aging.procedure import resume_aging_runs
from daq.storage.aging_models import AgingRunRow
from daq.storage.database import create_engine, session_factory, upgrade
from daq.storage.models import Run, RunEventRow
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import AgingOven
from tests.aging.conftest import HANG_GUARD_S, add_specimens, start_rig

HOUR = 3600.0
SCALE = 500_000.0
DAQ = str(Path(sys.executable).with_name("daq"))


def daq(args: list[str], env: dict[str, str], timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DAQ, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


async def test_killed_at_400_hours_resumed_50_hours_later_completes_with_every_hour(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lamina.db'}"
    await upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    specimens = ["K1", "K2", "K3", "K4", "K5", "K6"]
    await add_specimens(sessions, specimens)
    rig = await start_rig(tmp_path, SCALE)
    # The oven waits for the run: held until the test knows when the run started, then
    # held at hour 400 until the kill, so the kill falls there however busy the machine.
    rig.freeze_oven()
    env = {**os.environ, **rig.clock.env(), "DAQ_DATABASE_URL": url}
    env.pop("DAQ_CONFIG", None)
    args = [DAQ, "aging", "start", "--resource", rig.resource, "--json", "--operator", "ana"]
    for sid in specimens:
        args += ["--specimen", sid]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                            stderr=subprocess.PIPE)
    try:
        started = await stored_run(sessions, proc, lambda row: True)
        held = rig.oven_clock.hold_at = started.started_ts + 400 * HOUR
        # The run checkpoints at least every 30 simulated minutes of what it accounts; the
        # kill waits for that and for the oven to stand at hour 400 (its clock may still
        # be short of it when the checkpoint is written).
        row = await stored_run(sessions, proc, lambda row: (
            row.in_tolerance_s >= 395 * HOUR and rig.oven_clock.running() >= held))
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        rid = row.id
        killed_at_h = row.in_tolerance_s / HOUR
        assert row.status == "RUNNING"

        # From here the oven runs free: it may get ahead of the run by its log's capacity
        # (2400 h, 17 real s at this scale) and no more, whatever the machine's load; past
        # it, rows the run has not read would be overwritten (counted unmonitored, as a
        # real oven's lost log would be). First bounded by the checkpoint, then by the
        # resumed run's own accounting.
        rig.pace_with(lambda: row.accounted_until_ts)
        rig.release_oven()
        await rig.clock.sleep(50 * HOUR)  # the service is down for ≥ 50 simulated hours
        recorder = DbRecorder(sessions, None, prefix="lamina/test-restart", clock=rig.clock)
        async with AgingOven(rig.resource) as oven:
            runner = await resume_aging_runs(ovens={"oven1": oven}, clock=rig.clock,
                                             recorder=recorder, sessions=sessions)
            rig.pace_with(lambda: min((r.acc.accounted_until_ts for r in runner.runs.values()),
                                      default=None))
            assert list(runner.tasks) == [rid]
            await runner.wait(rid)

        async with sessions() as s:
            final = await s.get(AgingRunRow, rid)
            run = await s.get(Run, rid)
            notes = [e.data.get("what") for e in await s.scalars(
                select(RunEventRow).where(RunEventRow.run_id == rid))]
        assert final is not None and run is not None and run.ended_ts is not None
        assert 380 <= killed_at_h <= 420
        assert final.status == "DONE" and run.status == "DONE" and final.resumes == 1
        assert "resumed" in notes
        elapsed_h = (run.ended_ts - run.started_ts) / HOUR
        accounted_h = (final.in_tolerance_s + final.out_of_tolerance_s
                       + final.unmonitored_s) / HOUR
        assert accounted_h == pytest.approx(elapsed_h, abs=0.1)
        assert final.in_tolerance_s / HOUR == pytest.approx(1000.0, abs=1e-6)
        assert final.unmonitored_s == 0.0  # the oven's log had every minute of the gap

        await check_cli(env, rid)
    finally:
        if proc.poll() is None:
            proc.kill()
        await rig.server.stop()
        await engine.dispose()


async def stored_run(sessions: Any, proc: subprocess.Popen[bytes],
                     condition: Callable[[AgingRunRow], bool]) -> AgingRunRow:
    """The aging run's row once it meets ``condition`` (the process must still run;
    the timeout only guards against a hang)."""
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            async with sessions() as s:
                row = (await s.scalars(select(AgingRunRow))).first()
            if row is not None and condition(row):
                return row
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            await asyncio.sleep(0.01)


async def check_cli(env: dict[str, str], rid: str) -> None:
    shown = await asyncio.to_thread(daq, ["aging", "status", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    report: dict[str, Any] = json.loads(shown.stdout)
    assert report["run_id"] == rid and report["status"] == "DONE"
    assert [d["specimens"] for d in report["pullouts_due"]] == [
        ["K1", "K2"], ["K3", "K4"], ["K5", "K6"]]
    pulled = await asyncio.to_thread(daq, ["aging", "pullout", "--operator", "ana"], env)
    assert pulled.returncode == 0, pulled.stderr
    assert f"pulled K1, K2 from {rid} at 1000.0 h in tolerance" in pulled.stdout
    wrong = await asyncio.to_thread(daq, ["aging", "pullout", "--specimen", "K1"], env)
    assert wrong.returncode == 1
    assert "not in the oven" in wrong.stderr and "Traceback" not in wrong.stderr
