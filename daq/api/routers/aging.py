"""Aging runs (150 °C × 1000 h): hours in and out of tolerance, excursions, pull-outs
(viewer); recording specimens taken out of the oven (operator, audited, on the run's
events and MQTT)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from daq.aging.pullout import pull_out
from daq.aging.store import AgingError
from daq.aging.store import status as aging_status
from daq.api.audit import audited, note_action, note_detail
from daq.api.deps import Operator, SessionDep, StationDep, Viewer, get_sessions
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
    run_id: str
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


class PulloutIn(BaseModel):
    """Which specimens come out; none named: those of the earliest pull-out due."""

    model_config = ConfigDict(extra="forbid")

    specimen_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000)


@router.get("/status")
async def get_current_aging_status(_: Viewer, request: Request) -> dict[str, Any]:
    """The status of the newest aging run (what ``daq aging status`` shows by default)."""
    try:
        return await aging_status(get_sessions(request), None)
    except AgingError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.post("/{run_id}/pullouts", response_model=PulloutOut,
             status_code=status.HTTP_201_CREATED, responses=error_responses(409),
             **audited("aging.pullout"))
async def take_out(run_id: str, body: PulloutIn, request: Request, me: Operator,
                   session: SessionDep, station: StationDep) -> PulloutOut:
    """Record specimens taken out of the oven (operator): each gets state PULLED and the
    run's hours in tolerance as its aging hours; 409 when none is due or a named one is
    not in this oven."""
    note_action(request, "aging.pullout", target=run_id, specimens=body.specimen_ids)
    if await session.get(AgingRunRow, run_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no aging run {run_id!r}")
    now = station.clock.now()
    try:
        done = await pull_out(station.sessions, station.recorder, run_id, body.specimen_ids,
                              now, me.name)
    except AgingError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    station.publisher.wake_outbox()
    note_detail(request, specimens=done.specimen_ids, in_tolerance_h=round(done.in_tolerance_h, 3))
    return PulloutOut(id=done.pullout_id, run_id=done.run_id, ts=done.ts,
                      planned_h=done.planned_h, in_tolerance_h=done.in_tolerance_h,
                      specimen_ids=done.specimen_ids, operator=me.name)


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
