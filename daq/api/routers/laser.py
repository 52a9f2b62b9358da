"""Laser jobs: list (by sample, grade, state) and detail with the inspected holes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from daq.api.deps import SessionDep, Viewer
from daq.api.schemas import error_responses
from daq.laser import grading
from daq.storage.laser_models import LaserHoleRow, LaserJobRow

router = APIRouter(prefix="/api/laser", tags=["laser"], responses=error_responses(401, 403, 404))


class LaserJobOut(BaseModel):
    """A drilling job: parameters, how it ended, and its grade (O, Δ, X; null if aborted)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    sample_id: str
    instrument: str
    n_holes: int
    holes_done: int
    diameter_um: float
    pulse_frequency_hz: float
    hole_rate_hz: float
    power_w: float
    wavelength_nm: float
    state: str
    stop_cause: str | None
    reason: str | None
    grade: str | None
    holes_inspected: int
    holes_open: int
    holes_with_dross: int
    open_share: float | None
    dross_share: float | None
    median_taper: float | None
    started_ts: float
    ended_ts: float


class LaserHoleOut(BaseModel):
    """One inspected hole."""

    model_config = ConfigDict(from_attributes=True)

    hole_index: int
    top_um: float
    bottom_um: float
    dross: bool
    grade: str


def grade_reasons(job: LaserJobOut) -> list[str]:
    """Why the job has its grade, in the rule's own terms (:data:`grading.RULE`): each
    figure against its limit."""
    if job.grade is None or job.open_share is None:
        return [f"no grade: the job ended {job.state} before its holes were inspected"]
    opened = (f"{job.holes_open} of {job.holes_inspected} inspected holes open "
              f"({job.open_share:.1%}, {'≥' if job.open_share >= grading.MIN_OPEN_SHARE else '<'}"
              f" {grading.MIN_OPEN_SHARE:.0%})")
    if job.grade == "X":
        return [opened]
    dross = job.dross_share if job.dross_share is not None else 0.0
    reasons = [opened, f"{job.holes_with_dross} with dross ({dross:.1%}, "
                       f"{'<' if dross < grading.MAX_DROSS_SHARE else '≥'} "
                       f"{grading.MAX_DROSS_SHARE:.0%})"]
    if job.median_taper is not None:
        sign = "≥" if job.median_taper >= grading.MIN_GOOD_TAPER else "<"
        reasons.append(f"median taper {job.median_taper:.2f} ({sign} {grading.MIN_GOOD_TAPER})")
    return reasons


class LaserJobDetail(LaserJobOut):
    """A job with its inspected holes, in hole order."""

    holes: list[LaserHoleOut]
    grade_reasons: list[str] = Field(default_factory=list,
                                     description="why the grade: each figure against its limit")
    grade_rule: str = grading.RULE


@router.get("/jobs", response_model=list[LaserJobOut])
async def list_jobs(
    _: Viewer,
    session: SessionDep,
    sample_id: Annotated[str | None, Query(max_length=64)] = None,
    grade: Annotated[Literal["O", "Δ", "X"] | None, Query()] = None,
    state: Annotated[Literal["DONE", "ABORTED"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[LaserJobRow]:
    """Laser jobs, newest first."""
    query = select(LaserJobRow).order_by(LaserJobRow.started_ts.desc(), LaserJobRow.id)
    if sample_id:
        query = query.where(LaserJobRow.sample_id == sample_id)
    if grade:
        query = query.where(LaserJobRow.grade == grade)
    if state:
        query = query.where(LaserJobRow.state == state)
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


@router.get("/jobs/{run_id}", response_model=LaserJobDetail)
async def get_job(run_id: str, _: Viewer, session: SessionDep) -> LaserJobDetail:
    """One job with every inspected hole."""
    job = await session.get(LaserJobRow, run_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no laser job {run_id!r}")
    holes = (
        await session.scalars(
            select(LaserHoleRow)
            .where(LaserHoleRow.job_id == run_id)
            .order_by(LaserHoleRow.hole_index)
        )
    ).all()
    out = LaserJobOut.model_validate(job)
    return LaserJobDetail(
        **out.model_dump(),
        holes=[LaserHoleOut.model_validate(h) for h in holes],
        grade_reasons=grade_reasons(out),
        grade_rule=grading.RULE,
    )
