"""Campaigns: the campaign files the station offers (``campaigns_dir``); the list; one
campaign's state and the Table 1 its steps have reproduced so
far (as ``daq campaign run --json`` prints it); and its Table 1 as its report reads it
(measured beside the patent, each mean with its specimens and runs, pass/fail against the
report's tolerance), so the dashboard's Table 1 page and ``daq report`` show the same
numbers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from daq.api.deps import SessionDep, StationDep, Viewer, get_sessions
from daq.api.schemas import error_responses
from daq.campaign.model import CampaignFileError, load_campaign
from daq.campaign.state import UnknownCampaign, get_campaign
from daq.report.data import TOLERANCE_N_PER_CM, Condition, load_report_data
from daq.storage.campaign_models import CampaignRow, CampaignStepRow

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"],
                   responses=error_responses(401, 403, 404))


class CampaignSummary(BaseModel):
    """A campaign: title, status, when, and how many of its steps are done."""

    id: str
    title: str
    status: str
    reason: str | None
    started_ts: float
    ended_ts: float | None
    steps_done: int
    steps_total: int


class CampaignOut(BaseModel):
    """A campaign: status, how many sessions it took, and its reproduced table (one row
    per lot, as ``daq campaign run --json`` prints it)."""

    id: str
    title: str
    status: str
    reason: str | None
    sessions: int
    started_ts: float
    ended_ts: float | None
    table: list[dict[str, Any]]


class PeelValue(BaseModel):
    """One specimen's peel strength and the run that measured it."""

    specimen_id: str
    run_id: str
    peel_strength_n_per_cm: float | None
    aging_hours: float | None


class Table1Cell(BaseModel):
    """One condition of one sample: the mean, the patent's value, pass/fail."""

    mean_n_per_cm: float | None
    sd_n_per_cm: float | None
    patent_n_per_cm: float | None
    diff_n_per_cm: float | None
    passed: bool | None = Field(description="|diff| within the tolerance; None without both")
    specimens: list[PeelValue]


class Table1RowOut(BaseModel):
    """One sample of Table 1."""

    lot: str
    label: str
    material: str
    adhesive_thickness_um: float
    no_film: bool
    note: str | None
    press_run_id: str | None
    as_made: Table1Cell
    aged: Table1Cell
    laser_run_id: str | None
    laser_grade: str | None
    patent_laser_grade: str | None
    grade_passed: bool | None


class Table1Out(BaseModel):
    """A campaign's Table 1, its progress and the tolerance its cells are judged by."""

    campaign: CampaignSummary
    tolerance_n_per_cm: float
    aging_run_id: str | None
    rows: list[Table1RowOut]


def _cell(cond: Condition, patent: float | None, diff: float | None) -> Table1Cell:
    return Table1Cell(
        mean_n_per_cm=cond.mean, sd_n_per_cm=cond.sd, patent_n_per_cm=patent,
        diff_n_per_cm=diff, passed=None if diff is None else abs(diff) <= TOLERANCE_N_PER_CM,
        specimens=[PeelValue(specimen_id=p.specimen_id, run_id=p.run_id,
                             peel_strength_n_per_cm=p.peel_strength_n_per_cm,
                             aging_hours=p.aging_hours) for p in cond.peels])


async def _progress(session: SessionDep, ids: list[str]) -> dict[str, tuple[int, int]]:
    rows = await session.execute(
        select(CampaignStepRow.campaign_id, CampaignStepRow.status, func.count())
        .where(CampaignStepRow.campaign_id.in_(ids))
        .group_by(CampaignStepRow.campaign_id, CampaignStepRow.status))
    out: dict[str, list[int]] = {i: [0, 0] for i in ids}
    for cid, step_status, n in rows.all():
        out[cid][1] += int(n)
        if step_status in ("DONE", "SKIPPED"):
            out[cid][0] += int(n)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _summary(row: CampaignRow, progress: tuple[int, int]) -> CampaignSummary:
    return CampaignSummary(id=row.id, title=row.title, status=row.status, reason=row.reason,
                       started_ts=row.started_ts, ended_ts=row.ended_ts,
                       steps_done=progress[0], steps_total=progress[1])


class CampaignFile(BaseModel):
    """A campaign file the station offers: its campaign as ``POST /api/runs`` takes it
    (``kind=campaign``), or why it cannot be read."""

    file: str
    id: str | None = None
    title: str | None = None
    sha256: str | None = None
    params: dict[str, Any] | None = None
    error: str | None = None


#: At most this many campaign files are offered (the first by name).
MAX_CAMPAIGN_FILES = 100


@router.get("/files", response_model=list[CampaignFile])
async def campaign_files(_: Viewer, station: StationDep) -> list[CampaignFile]:
    """The campaign files (``*.toml``) in the station's ``campaigns_dir``, by name: each
    parsed as ``daq campaign run`` reads it, or with the error that refuses it."""
    # Files are read in a thread: the event loop polls the instruments meanwhile.
    return await asyncio.to_thread(read_campaign_files, station.settings.campaigns_dir)


def read_campaign_files(folder: Path) -> list[CampaignFile]:
    """Every ``*.toml`` in ``folder`` (none if it does not exist), parsed or refused."""
    try:
        paths = sorted(p for p in folder.glob("*.toml") if p.is_file())[:MAX_CAMPAIGN_FILES]
    except OSError:
        return []
    files = []
    for path in paths:
        try:
            campaign, digest = load_campaign(path)
        except CampaignFileError as exc:  # named by its file name: the station's paths stay its own
            files.append(CampaignFile(file=path.name,
                                      error=str(exc).replace(str(path), path.name)))
            continue
        files.append(CampaignFile(file=path.name, id=campaign.campaign.id,
                                  title=campaign.campaign.title, sha256=digest,
                                  params=campaign.model_dump(mode="json")))
    return files


@router.get("", response_model=list[CampaignSummary])
async def list_campaigns(
    _: Viewer, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[CampaignSummary]:
    """Campaigns, newest first, with their progress."""
    rows = list((await session.scalars(
        select(CampaignRow).order_by(CampaignRow.started_ts.desc()).limit(limit))).all())
    progress = await _progress(session, [r.id for r in rows])
    return [_summary(r, progress[r.id]) for r in rows]


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_one(campaign_id: str, _: Viewer, request: Request) -> CampaignOut:
    """One campaign and its table (404 if it has not been run here)."""
    sessions = get_sessions(request)
    row = await get_campaign(sessions, campaign_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no campaign {campaign_id!r}")
    try:
        data = await load_report_data(sessions, campaign_id, with_traces=False)
    except UnknownCampaign as exc:  # removed in between
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return CampaignOut(id=row.id, title=row.title, status=row.status, reason=row.reason,
                       sessions=row.sessions, started_ts=row.started_ts,
                       ended_ts=row.ended_ts, table=data.table_json())


@router.get("/{campaign_id}/table1", response_model=Table1Out)
async def table1(campaign_id: str, request: Request, _: Viewer, session: SessionDep
                 ) -> Table1Out:
    """The campaign's Table 1 as its report has it, live while it runs."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no campaign {campaign_id!r}")
    progress = (await _progress(session, [campaign_id]))[campaign_id]
    try:
        data = await load_report_data(get_sessions(request), campaign_id, with_traces=False)
    except UnknownCampaign as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    rows = [Table1RowOut(
        lot=r.lot, label=r.label, material=r.material_key,
        adhesive_thickness_um=r.adhesive_thickness_um, no_film=r.no_film, note=r.note,
        press_run_id=r.press_run_id,
        as_made=_cell(r.as_made, r.expected_as_made, r.diff_as_made),
        aged=_cell(r.aged, r.expected_aged, r.diff_aged),
        laser_run_id=r.laser_run_id, laser_grade=r.laser_grade,
        patent_laser_grade=r.expected_grade, grade_passed=r.grade_matches,
    ) for r in data.table]
    return Table1Out(campaign=_summary(row, progress),
                     tolerance_n_per_cm=TOLERANCE_N_PER_CM,
                     aging_run_id=data.aging.run_id if data.aging else None, rows=rows)
