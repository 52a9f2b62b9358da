"""Runs: filtered list, detail with events, readings as paginated JSON or streamed CSV, abort."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api.audit import audited, note_action
from daq.api.deps import Operator, SessionDep, StationDep, Viewer, get_sessions
from daq.api.schemas import (
    AbortIn,
    AbortOut,
    ReadingPage,
    RunDetail,
    RunEventOut,
    RunList,
    RunOut,
    error_responses,
)
from daq.clock import iso
from daq.station.errors import StationError
from daq.storage.models import RUN_STATUSES, ReadingRow, Run, RunEventRow

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=error_responses(401, 403, 404, 409))

RunStatus = Literal["RUNNING", "DONE", "ABORTED", "FAULTED", "INCOMPLETE", "INTERRUPTED"]
RunKind = Annotated[str, Query(max_length=32, description="press_cycle, peel_test, …")]
CSV_CHUNK = 5000
CSV_COLUMNS = ("ts", "time", "instrument", "channel", "value", "unit", "replayed")

assert set(RUN_STATUSES) == set(get_args(RunStatus))


@router.get("", response_model=RunList)
async def list_runs(
    _: Viewer,
    session: SessionDep,
    kind: RunKind | None = None,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    station: Annotated[str | None, Query(max_length=64)] = None,
    sample_id: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100, description=(
        "search: a part of the run id, kind, sample, operator, station or reason"))] = None,
    before: Annotated[float | None, Query(ge=0, le=1e11, description=(
        "only runs started (wall clock, epoch seconds) before this: the next page after "
        "a page's last started_wall"))] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> RunList:
    """Runs, newest first by wall-clock start (simulated time jumps: a campaign's runs
    are stamped weeks ahead), filtered by kind, status, station, sample and a search."""
    query = select(Run)
    if kind:
        query = query.where(Run.kind == kind)
    if status_:
        query = query.where(Run.status == status_)
    if station:
        query = query.where(Run.station == station)
    if sample_id:
        query = query.where(Run.sample_id == sample_id)
    if q and q.strip():
        pattern = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        query = query.where(or_(*(
            func.lower(func.coalesce(column, "")).like(pattern, escape="\\")
            for column in (Run.id, Run.kind, Run.sample_id, Run.operator, Run.station,
                           Run.reason))))
    if before is not None:
        query = query.where(Run.started_wall < before)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.scalars(
            query.order_by(Run.started_wall.desc().nulls_last(), Run.started_ts.desc(), Run.id)
            .limit(limit).offset(offset)
        )
    ).all()
    return RunList(
        total=total,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if offset + limit < total else None,
        items=[RunOut.model_validate(r) for r in rows],
    )


async def _run_or_404(session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id!r}")
    return run


@router.get("/{run_id}", response_model=RunDetail)
async def get_run(run_id: str, _: Viewer, session: SessionDep, station: StationDep) -> RunDetail:
    """One run with its events and the number of readings per channel."""
    run = await _run_or_404(session, run_id)
    events = (
        await session.scalars(
            select(RunEventRow).where(RunEventRow.run_id == run_id).order_by(RunEventRow.id)
        )
    ).all()
    counts = await session.execute(
        select(ReadingRow.channel, func.count())
        .where(ReadingRow.run_id == run_id)
        .group_by(ReadingRow.channel)
    )
    return RunDetail(
        **RunOut.model_validate(run).model_dump(),
        events=[RunEventOut.model_validate(e) for e in events],
        channels={str(ch): int(n) for ch, n in counts.all()},
        live=station.run_engine.is_live(run_id),
    )


def _readings_query(run_id: str, channel: str | None) -> Any:
    query = select(
        ReadingRow.id,
        ReadingRow.ts,
        ReadingRow.instrument,
        ReadingRow.channel,
        ReadingRow.value,
        ReadingRow.unit,
        ReadingRow.replayed,
    ).where(ReadingRow.run_id == run_id)
    if channel:
        query = query.where(ReadingRow.channel == channel)
    return query


@router.get(
    "/{run_id}/readings",
    response_model=ReadingPage,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def run_readings(
    run_id: str,
    request: Request,
    _: Viewer,
    session: SessionDep,
    format: Literal["json", "csv"] = "json",
    channel: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> Any:
    """Readings of a run, oldest first: a JSON page, or the whole run as streamed CSV."""
    await _run_or_404(session, run_id)
    if format == "csv":
        return StreamingResponse(
            _csv_rows(get_sessions(request), run_id, channel),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{run_id}.csv"'},
        )
    query = _readings_query(run_id, channel)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.execute(
            query.order_by(ReadingRow.ts, ReadingRow.id).limit(limit).offset(offset)
        )
    ).all()
    # Built as plain JSON (same shape as ReadingPage): validating 1000 pydantic models per
    # page cost two thirds of the throughput (bench/api.py).
    page = {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < total else None,
        "run_id": run_id,
        "items": [
            {"ts": r.ts, "instrument": r.instrument, "channel": r.channel,
             "value": r.value if math.isfinite(r.value) else None,
             "unit": r.unit, "replayed": bool(r.replayed)}
            for r in rows
        ],
    }
    return Response(json.dumps(page, allow_nan=False), media_type="application/json")


async def _csv_rows(
    sessions: async_sessionmaker[AsyncSession], run_id: str, channel: str | None
) -> AsyncIterator[str]:
    """The CSV text in chunks, read with keyset paging so memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    last: tuple[float, int] | None = None
    base = _readings_query(run_id, channel)
    while True:
        query = base
        if last is not None:
            query = query.where(tuple_(ReadingRow.ts, ReadingRow.id) > tuple_(*last))
        async with sessions() as session:
            rows = (
                await session.execute(query.order_by(ReadingRow.ts, ReadingRow.id).limit(CSV_CHUNK))
            ).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for r in rows:
            writer.writerow(
                (
                    repr(r.ts),
                    iso(r.ts),
                    r.instrument,
                    r.channel,
                    repr(r.value),
                    r.unit,
                    str(bool(r.replayed)).lower(),
                )
            )
        yield buffer.getvalue()
        last = (rows[-1].ts, rows[-1].id)
        if len(rows) < CSV_CHUNK:
            return


@router.post("/{run_id}/abort", response_model=AbortOut, status_code=202, **audited("run.abort"))
async def abort_run(
    run_id: str, request: Request, me: Operator, session: SessionDep, station: StationDep,
    body: AbortIn | None = None,
) -> AbortOut:
    """Abort a live run (operator): the instrument goes to its safe state. An optional
    ``reason`` (``{"reason": "SIGINT"}``) is added to the run's reason."""
    if not station.run_engine.is_live(run_id):
        run = await session.get(Run, run_id)
        note_action(request, "run.abort", target=run_id,
                    from_state=(run.phase or run.status) if run else None)
        if run is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id!r}")
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"run {run_id} is {run.status}, not live here"
        )
    # A live run is aborted from what the station knows, without asking the database
    # first: a locked or stopped database must not delay the safe state.
    phase = station.run_engine.get(run_id).phase
    note_action(request, "run.abort", target=run_id, from_state=phase)
    try:
        ended = await station.run_engine.abort(run_id, me.name,
                                               why=body.reason if body else None)
    except StationError as exc:  # ended between the check and the abort
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    if ended:
        return AbortOut(run_id=run_id, status="ABORTED", detail="run aborted; safe state reached")
    return AbortOut(run_id=run_id, status="ABORTING", detail="abort sent; still going safe")
