"""Peel tests (JIS C 6481, 90°): list with the computed peel strength, and one test's results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daq.api.deps import SessionDep, Viewer
from daq.api.schemas import error_responses
from daq.storage.peel_models import PeelResultRow, PeelTestRow, unpack_curve

router = APIRouter(
    prefix="/api/peel-tests", tags=["peel"], responses=error_responses(401, 403, 404)
)


class PeelResultOut(BaseModel):
    """The strength computed over the steady region of a peel curve."""

    model_config = ConfigDict(from_attributes=True)

    peel_strength_n_per_cm: float
    mean_force_n: float
    sd_force_n: float
    n_samples: int
    steady_start_mm: float
    steady_end_mm: float
    width_mm: float
    computed_ts: float


class PeelTestOut(BaseModel):
    """One peel test: specimen, conditions, how it ended, and its latest result."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    specimen_id: str | None
    specimen_label: str
    sample_id: str | None
    laminate_id: str | None
    aging_hours: float | None
    instrument: str
    width_mm: float
    speed_mm_per_min: float
    angle_deg: float
    status: str
    reason: str | None
    started_ts: float
    ended_ts: float | None
    n_points: int
    peel_strength_n_per_cm: float | None = None


class PeelCurveOut(BaseModel):
    """A peel test's force against travel, as captured (every ``step``-th point)."""

    id: str
    n_points: int = Field(description="points captured")
    step: int = Field(description="every step-th point is given")
    mm: list[float]
    force_n: list[float]


class PeelTestDetail(PeelTestOut):
    """A peel test with every result computed for it."""

    results: list[PeelResultOut]


async def _latest_strengths(session: SessionDep, ids: list[str]) -> dict[str, float]:
    if not ids:
        return {}
    rows = await session.execute(
        select(PeelResultRow.peel_test_id, PeelResultRow.peel_strength_n_per_cm)
        .where(PeelResultRow.peel_test_id.in_(ids))
        .order_by(PeelResultRow.id)
    )
    return {str(test_id): float(value) for test_id, value in rows.all()}


@router.get("", response_model=list[PeelTestOut])
async def list_peel_tests(
    _: Viewer,
    session: SessionDep,
    sample_id: Annotated[str | None, Query(max_length=64)] = None,
    specimen_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[PeelTestOut]:
    """Peel tests, newest first, with their peel strength (N/cm) when computed."""
    query = select(PeelTestRow).order_by(PeelTestRow.started_ts.desc(), PeelTestRow.id)
    if sample_id:
        query = query.where(PeelTestRow.sample_id == sample_id)
    if specimen_id:
        query = query.where(PeelTestRow.specimen_id == specimen_id)
    tests = (await session.scalars(query.limit(limit).offset(offset))).all()
    strengths = await _latest_strengths(session, [t.id for t in tests])
    return [
        PeelTestOut.model_validate(t).model_copy(
            update={"peel_strength_n_per_cm": strengths.get(t.id)}
        )
        for t in tests
    ]


@router.get("/{test_id}", response_model=PeelTestDetail)
async def get_peel_test(test_id: str, _: Viewer, session: SessionDep) -> PeelTestDetail:
    """One peel test with its results."""
    test = await session.get(PeelTestRow, test_id)
    if test is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no peel test {test_id!r}")
    results = (
        await session.scalars(
            select(PeelResultRow)
            .where(PeelResultRow.peel_test_id == test_id)
            .order_by(PeelResultRow.id)
        )
    ).all()
    base = PeelTestOut.model_validate(test).model_dump()
    base["peel_strength_n_per_cm"] = results[-1].peel_strength_n_per_cm if results else None
    return PeelTestDetail(**base, results=[PeelResultOut.model_validate(r) for r in results])


@router.get("/{test_id}/curve", response_model=PeelCurveOut)
async def get_peel_curve(
    test_id: str,
    _: Viewer,
    session: SessionDep,
    max_points: Annotated[int, Query(ge=10, le=200_000)] = 5000,
) -> PeelCurveOut:
    """The captured curve (travel mm, force N), thinned evenly to at most ``max_points``."""
    test = await session.get(PeelTestRow, test_id, options=[undefer(PeelTestRow.curve)])
    if test is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no peel test {test_id!r}")
    mm, force = unpack_curve(test.curve or b"")
    step = max(1, -(-len(mm) // max_points))
    return PeelCurveOut(id=test_id, n_points=len(mm), step=step,
                        mm=[round(v, 4) for v in mm[::step]],
                        force_n=[round(v, 4) for v in force[::step]])
