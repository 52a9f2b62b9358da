"""Samples (lots of adhesive film) with their laminates and specimens: the traceability chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from daq.api.audit import audited, note_action
from daq.api.deps import Operator, SessionDep, StationDep, Viewer
from daq.api.schemas import (
    LaminateIn,
    LaminateOut,
    SampleDetail,
    SampleIn,
    SampleOut,
    SpecimenIn,
    SpecimenOut,
    error_responses,
)
from daq.materials import CATALOGUE
from daq.storage.base import Base
from daq.storage.models import Laminate, Run, Sample, Specimen

router = APIRouter(tags=["samples"], responses=error_responses(401, 403, 404))
REGISTER = error_responses(401, 403, 409)


def _unknown(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "not_on_record", "loc": ("body", field), "msg": message}])


async def _add_new(session: SessionDep, row: Base, what: str, record_id: str) -> None:
    """Insert ``row``; 409 if the id is taken (checked first, and by the key itself)."""
    if await session.get(type(row), record_id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"{what} {record_id!r} exists")
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # registered by someone else in between
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{what} {record_id!r} exists") from None


@router.post("/api/samples", response_model=SampleOut, status_code=201,
             responses=REGISTER, **audited("sample.register"))
async def register_sample(body: SampleIn, request: Request, _: Operator, session: SessionDep,
                          station: StationDep) -> Sample:
    """Register a sample lot (operator): id, material, adhesive thickness."""
    note_action(request, "sample.register", target=body.id, material_key=body.material_key)
    info = CATALOGUE[body.material_key]
    row = Sample(id=body.id, material_key=info.key, material_name=info.name,
                 adhesive_thickness_um=(body.adhesive_thickness_um
                                        if body.adhesive_thickness_um is not None
                                        else info.adhesive_thickness_um),
                 film_forms=info.film_forms, note=body.note or info.note or None,
                 created_ts=station.clock.now())
    await _add_new(session, row, "sample", body.id)
    return row


@router.post("/api/laminates", response_model=LaminateOut, status_code=201,
             responses=REGISTER, **audited("laminate.register"))
async def register_laminate(body: LaminateIn, request: Request, _: Operator,
                            session: SessionDep, station: StationDep) -> Laminate:
    """Register a laminate of a sample on record (operator), optionally by its press run."""
    note_action(request, "laminate.register", target=body.id, sample_id=body.sample_id,
                press_run_id=body.press_run_id)
    if await session.get(Sample, body.sample_id) is None:
        raise _unknown("sample_id", f"sample {body.sample_id!r} is not on record")
    if body.press_run_id is not None:
        run = await session.get(Run, body.press_run_id)
        if run is None or run.kind != "press_cycle":
            raise _unknown("press_run_id", f"no press run {body.press_run_id!r} on record")
    row = Laminate(id=body.id, sample_id=body.sample_id, press_run_id=body.press_run_id,
                   created_ts=station.clock.now())
    await _add_new(session, row, "laminate", body.id)
    return row


@router.post("/api/specimens", response_model=SpecimenOut, status_code=201,
             responses=REGISTER, **audited("specimen.register"))
async def register_specimen(body: SpecimenIn, request: Request, _: Operator,
                            session: SessionDep, station: StationDep) -> Specimen:
    """Register a specimen cut from a laminate, or from a sample (operator), as made."""
    note_action(request, "specimen.register", target=body.id, laminate_id=body.laminate_id,
                sample_id=body.sample_id)
    sample_id = body.sample_id
    if body.laminate_id is not None:
        laminate = await session.get(Laminate, body.laminate_id)
        if laminate is None:
            raise _unknown("laminate_id", f"laminate {body.laminate_id!r} is not on record")
        if sample_id is not None and sample_id != laminate.sample_id:
            raise _unknown("sample_id", f"laminate {laminate.id} is of sample "
                           f"{laminate.sample_id}, not {sample_id}")
        sample_id = laminate.sample_id
    if sample_id is None:
        raise _unknown("sample_id", "give the laminate_id or the sample_id it was cut from")
    sample = await session.get(Sample, sample_id)
    if sample is None:
        raise _unknown("sample_id", f"sample {sample_id!r} is not on record")
    if not sample.film_forms:  # the lab's rule: no film, so nothing to cut a specimen from
        raise _unknown("sample_id", f"{sample.material_name} ({sample.material_key}) cannot "
                       f"be made into specimens: {sample.note or 'no film'}")
    row = Specimen(id=body.id, laminate_id=body.laminate_id, sample_id=sample_id,
                   width_mm=body.width_mm, aging_hours=body.aging_hours,
                   state="AS_MADE" if body.aging_hours == 0 else "PULLED",
                   created_ts=station.clock.now())
    await _add_new(session, row, "specimen", body.id)
    return row


@router.get("/api/laminates", response_model=list[LaminateOut])
async def list_laminates(
    _: Viewer,
    session: SessionDep,
    sample_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Laminate]:
    """Laminates, newest first, filtered by sample."""
    query = select(Laminate).order_by(Laminate.created_ts.desc(), Laminate.id)
    if sample_id:
        query = query.where(Laminate.sample_id == sample_id)
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


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
