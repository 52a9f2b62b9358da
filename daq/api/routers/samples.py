"""Samples (lots of adhesive film) with their laminates and specimens: the traceability chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from daq.api.deps import SessionDep, Viewer
from daq.api.schemas import LaminateOut, SampleDetail, SampleOut, SpecimenOut, error_responses
from daq.storage.models import Laminate, Sample, Specimen

router = APIRouter(tags=["samples"], responses=error_responses(401, 403, 404))


@router.get("/api/samples", response_model=list[SampleOut])
async def list_samples(
    _: Viewer,
    session: SessionDep,
    material_key: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Sample]:
    """Sample lots, newest first."""
    query = select(Sample).order_by(Sample.created_ts.desc(), Sample.id)
    if material_key:
        query = query.where(Sample.material_key == material_key)
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


@router.get("/api/samples/{sample_id}", response_model=SampleDetail)
async def get_sample(sample_id: str, _: Viewer, session: SessionDep) -> SampleDetail:
    """One sample lot with its laminates and specimens."""
    sample = await session.get(Sample, sample_id)
    if sample is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no sample {sample_id!r}")
    laminates = (
        await session.scalars(select(Laminate).where(Laminate.sample_id == sample_id))
    ).all()
    specimens = (
        await session.scalars(select(Specimen).where(Specimen.sample_id == sample_id))
    ).all()
    return SampleDetail(
        **SampleOut.model_validate(sample).model_dump(),
        laminates=[LaminateOut.model_validate(x) for x in laminates],
        specimens=[SpecimenOut.model_validate(x) for x in specimens],
    )


@router.get("/api/specimens", response_model=list[SpecimenOut])
async def list_specimens(
    _: Viewer,
    session: SessionDep,
    sample_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Specimen]:
    """Specimens, filtered by sample and state."""
    query = select(Specimen).order_by(Specimen.created_ts.desc(), Specimen.id)
    if sample_id:
        query = query.where(Specimen.sample_id == sample_id)
    if state:
        query = query.where(Specimen.state == state)
    return list((await session.scalars(query.limit(limit).offset(offset))).all())
