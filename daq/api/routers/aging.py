"""Aging runs (150 °C × 1000 h): hours in and out of tolerance, excursions, pull-outs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from daq.aging.store import AgingError
from daq.aging.store import status as aging_status
from daq.api.deps import SessionDep, Viewer, get_sessions
from daq.api.schemas import error_responses
from daq.storage.aging_models import AgingExcursionRow, AgingPulloutRow, AgingRunRow

router = APIRouter(
    prefix="/api/aging-runs", tags=["aging"], responses=error_responses(401, 403, 404)
)


class AgingRunOut(BaseModel):
    """An aging run and its hour accounting."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    oven: str
    status: str
    setpoint_c: float
    tolerance_c: float
    target_h: float
    started_ts: float
    accounted_until_ts: float
    in_tolerance_s: float
    out_of_tolerance_s: float
    unmonitored_s: float
    excursion_count: int
    last_pv_c: float | None
    completed_ts: float | None
    resumes: int


class ExcursionOut(BaseModel):
    """A period out of tolerance: start, end, peak."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    start_ts: float
    end_ts: float | None
    peak_deviation_c: float
    peak_pv_c: float


class PulloutOut(BaseModel):
    """Specimens taken out at some in-tolerance hours."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: float
    planned_h: float | None
    in_tolerance_h: float
    specimen_ids: list[str]
    operator: str | None


class AgingRunDetail(AgingRunOut):
    """An aging run with its excursions and pull-outs."""

    excursions: list[ExcursionOut]
    pullouts: list[PulloutOut]


@router.get("", response_model=list[AgingRunOut])
async def list_aging_runs(
    _: Viewer,
    session: SessionDep,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AgingRunRow]:
    """Aging runs, newest first."""
    query = select(AgingRunRow).order_by(AgingRunRow.started_ts.desc(), AgingRunRow.id)
    if status_:
        query = query.where(AgingRunRow.status == status_)
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


@router.get("/{run_id}/status")
async def get_aging_status(run_id: str, _: Viewer, request: Request) -> dict[str, Any]:
    """Everything ``daq aging status`` shows of a run: hours in each bucket, the next
    pull-out, pull-outs due with their specimens, excursions, pull-outs done."""
    try:
        return await aging_status(get_sessions(request), run_id)
    except AgingError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.get("/{run_id}", response_model=AgingRunDetail)
async def get_aging_run(run_id: str, _: Viewer, session: SessionDep) -> AgingRunDetail:
    """One aging run with its excursions and pull-outs."""
    run = await session.get(AgingRunRow, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no aging run {run_id!r}")
    excursions = (
        await session.scalars(
            select(AgingExcursionRow)
            .where(AgingExcursionRow.run_id == run_id)
            .order_by(AgingExcursionRow.id)
        )
    ).all()
    pullouts = (
        await session.scalars(
            select(AgingPulloutRow)
            .where(AgingPulloutRow.run_id == run_id)
            .order_by(AgingPulloutRow.id)
        )
    ).all()
    return AgingRunDetail(
        **AgingRunOut.model_validate(run).model_dump(),
        excursions=[ExcursionOut.model_validate(e) for e in excursions],
        pullouts=[PulloutOut.model_validate(p) for p in pullouts],
    )
