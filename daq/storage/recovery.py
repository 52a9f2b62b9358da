"""Crash honesty: runs found live at start-up are closed as INTERRUPTED, saying how much
of their data reached the database.

Recovery is per station: a station closes only the runs it started itself
(``runs.station``), never a live run of another station sharing the database. Rows
without a station (written by a recorder given none, before stations had ids) are
closed only when no live claim of another station covers their instrument: such a run
is either this station's own from before, or an orphan nobody can finish — but while
another station holds an instrument of that name, the run may be its live one.

Runs of resumable kinds (the aging run, by default) are left alone: their procedure
picks them up again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from daq.storage.claim_models import InstrumentClaim
from daq.storage.models import ReadingRow, Run, RunEventRow
from daq.storage.recorder import DbRecorder

INTERRUPTED_REASON = "service stopped while the run was live (found at start-up)"

#: Kinds of run whose procedure resumes them after a restart.
RESUMABLE_KINDS = frozenset({"aging_run"})


@dataclass(frozen=True)
class InterruptedRun:
    """A run closed by recovery, with what had been stored of it."""

    run_id: str
    kind: str
    phase: str | None
    readings_stored: int
    last_reading_ts: float | None
    last_event_ts: float | None


async def recover_interrupted(
    recorder: DbRecorder,
    *,
    now_ts: float | None = None,
    resumable_kinds: Iterable[str] = RESUMABLE_KINDS,
    stale_after_s: float = 15.0,
) -> list[InterruptedRun]:
    """Mark this station's live runs (``recorder.station``; except resumable kinds)
    INTERRUPTED; return what was found. ``stale_after_s`` is the claim staleness bound:
    a claim of another station with a fresher heartbeat is live.

    The stored readings are counted from the ``readings`` table itself (the truth after a
    crash), and ``ended_ts`` is the last moment the record shows the run alive.
    """
    skip = set(resumable_kinds)
    async with recorder.sessions() as session:
        station = recorder.station
        mine = Run.station.is_(None) if station is None else or_(
            Run.station == station, Run.station.is_(None))
        live = list(
            await session.scalars(
                select(Run).where(Run.status == "RUNNING", mine).order_by(Run.started_ts)
            )
        )
        fresh = time.time() - stale_after_s
        held_elsewhere = set(
            await session.scalars(
                select(InstrumentClaim.instrument).where(
                    InstrumentClaim.heartbeat >= fresh,
                    InstrumentClaim.station != (station or ""),
                )
            )
        )
        live = [run for run in live
                if run.station is not None or run.instrument not in held_elsewhere]
        found: list[InterruptedRun] = []
        for run in live:
            if run.kind in skip:
                continue
            count, last_reading = (
                await session.execute(
                    select(func.count(ReadingRow.id), func.max(ReadingRow.ts)).where(
                        ReadingRow.run_id == run.id
                    )
                )
            ).one()
            last_event = await session.scalar(
                select(func.max(RunEventRow.ts)).where(RunEventRow.run_id == run.id)
            )
            found.append(
                InterruptedRun(run.id, run.kind, run.phase, int(count), last_reading, last_event)
            )
    for item in found:
        seen = [t for t in (item.last_reading_ts, item.last_event_ts) if t is not None]
        ended = max(seen) if seen else (now_ts if now_ts is not None else recorder.clock.now())
        await recorder.interrupt_run(
            item.run_id,
            ended_ts=ended,
            reason=INTERRUPTED_REASON,
            readings_stored=item.readings_stored,
            last_reading_ts=item.last_reading_ts,
            phase=item.phase,
        )
    return found
