"""Reading the record back: runs, their events, reading counts and reading exports.

Shared by ``daq runs`` and the HTTP API so both say the same thing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from daq.clock import iso
from daq.storage.errors import RunNotFound
from daq.storage.models import ReadingRow, Run, RunEventRow

#: Columns of a readings export (CSV header, JSON keys).
EXPORT_COLUMNS = ("ts", "time", "instrument", "channel", "value", "unit", "replayed")


@dataclass(frozen=True)
class ChannelCount:
    """How many readings of one channel a run has, and over which time span."""

    instrument: str
    channel: str
    unit: str
    count: int
    first_ts: float
    last_ts: float


def run_dict(run: Run) -> dict[str, Any]:
    """A run as plain JSON-ready data (times as epoch seconds and ISO text)."""
    return {
        "id": run.id,
        "kind": run.kind,
        "instrument": run.instrument,
        "status": run.status,
        "phase": run.phase,
        "operator": run.operator,
        "sample_id": run.sample_id,
        "station": run.station,
        "started_ts": run.started_ts,
        "started": iso(run.started_ts),
        "ended_ts": run.ended_ts,
        "ended": iso(run.ended_ts) if run.ended_ts is not None else None,
        "reason": run.reason,
        "recipe": run.recipe,
        "summary": run.summary,
        "readings_stored": run.readings_stored,
        "last_reading_ts": run.last_reading_ts,
    }


async def list_runs(
    session: AsyncSession,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """The newest runs first (by wall-clock start, as the API lists them: a campaign's
    runs stamped weeks ahead in simulated time do not hide a run made after it),
    optionally of one kind and/or status."""
    query = select(Run).order_by(Run.started_wall.desc().nulls_last(),
                                 Run.started_ts.desc(), Run.id).limit(limit)
    if kind:
        query = query.where(Run.kind == kind)
    if status:
        query = query.where(Run.status == status.upper())
    return list(await session.scalars(query))


#: The run id that means "the newest run" (of a kind, if one is given).
LAST = "last"


async def get_run(session: AsyncSession, run_id: str, kind: str | None = None) -> Run:
    """The run, or :class:`RunNotFound`; ``last``: the newest run by wall-clock start
    (of ``kind`` if given)."""
    if run_id == LAST:
        query = select(Run).order_by(Run.started_wall.desc().nulls_last(),
                                     Run.started_ts.desc(), Run.id.desc()).limit(1)
        if kind:
            query = query.where(Run.kind == kind)
        newest = (await session.scalars(query)).first()
        if newest is None:
            raise RunNotFound(f"{LAST} ({kind})" if kind else LAST)
        return newest
    run = await session.get(Run, run_id)
    if run is None or (kind and run.kind != kind):
        raise RunNotFound(run_id)
    return run


async def run_events(session: AsyncSession, run_id: str) -> list[RunEventRow]:
    """A run's events in the order they were recorded."""
    result = await session.scalars(
        select(RunEventRow).where(RunEventRow.run_id == run_id).order_by(RunEventRow.id)
    )
    return list(result)


async def channel_counts(session: AsyncSession, run_id: str) -> list[ChannelCount]:
    """Readings stored per instrument and channel of a run."""
    rows = await session.execute(
        select(
            ReadingRow.instrument,
            ReadingRow.channel,
            func.min(ReadingRow.unit),
            func.count(ReadingRow.id),
            func.min(ReadingRow.ts),
            func.max(ReadingRow.ts),
        )
        .where(ReadingRow.run_id == run_id)
        .group_by(ReadingRow.instrument, ReadingRow.channel)
        .order_by(ReadingRow.instrument, ReadingRow.channel)
    )
    return [ChannelCount(i, c, u, int(n), float(a), float(b)) for i, c, u, n, a, b in rows]


async def iter_readings(
    session: AsyncSession, run_id: str, chunk: int = 5000
) -> AsyncIterator[tuple[float, str, str, float, str, bool]]:
    """A run's readings in time order, streamed: (ts, instrument, channel, value, unit,
    replayed)."""
    result = await session.stream(
        select(
            ReadingRow.ts,
            ReadingRow.instrument,
            ReadingRow.channel,
            ReadingRow.value,
            ReadingRow.unit,
            ReadingRow.replayed,
        )
        .where(ReadingRow.run_id == run_id)
        .order_by(ReadingRow.ts, ReadingRow.id)
        .execution_options(yield_per=chunk)
    )
    async for ts, instrument, channel, value, unit, replayed in result:
        yield ts, instrument, channel, value, unit, bool(replayed)


def export_record(row: tuple[float, str, str, float, str, bool]) -> dict[str, Any]:
    """One reading as an export record with the columns of :data:`EXPORT_COLUMNS`."""
    ts, instrument, channel, value, unit, replayed = row
    return {
        "ts": ts,
        "time": iso(ts),
        "instrument": instrument,
        "channel": channel,
        "value": value,
        "unit": unit,
        "replayed": replayed,
    }


def csv_lines(rows: Iterable[tuple[float, str, str, float, str, bool]],
              header: bool = True) -> Iterable[str]:
    """CSV text, one line per reading (with a header line first if ``header``)."""
    buffer = io.StringIO()
    # RFC 4180 line ends: fields holding \r or \n get quoted (a bare "\n" would not quote \r).
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        rec = export_record(row)
        writer.writerow([repr(rec["ts"]), rec["time"], rec["instrument"], rec["channel"],
                         repr(rec["value"]), rec["unit"], "true" if rec["replayed"] else "false"])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def json_record_line(row: tuple[float, str, str, float, str, bool]) -> str:
    """One reading as a compact JSON object."""
    return json.dumps(export_record(row), separators=(",", ":"))
