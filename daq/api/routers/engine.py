"""Starting runs of every kind: ``POST /api/runs {"kind": …, "params": {…}}``, the live
runs of this station and the kinds it starts (operator to start, viewer to read).

The body is a union tagged by ``kind``: each kind's ``params`` is validated by that
kind's own parameter model (the one the CLI and campaign files use), so a bad value is
refused with 422 naming the field and its range before anything moves; an unknown kind
is refused listing the known ones; a busy instrument gives 409 naming the run that
holds it, its kind, operator and since when.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from daq.aging.params import AgingRunParams
from daq.api.audit import audited, note_detail
from daq.api.deps import Operator, StationDep, Viewer
from daq.api.schemas import (
    ActiveRunOut,
    RunKindOut,
    RunStarted,
    declare_recipe_windows,
    error_responses,
)
from daq.api.starting import start_run
from daq.campaign.params import CampaignParams
from daq.laser.params import LaserRunParams
from daq.peel.params import PeelTestParams
from daq.press.params import PressCycleParams

router = APIRouter(prefix="/api/runs", tags=["runs"],
                   responses=error_responses(401, 403, 404, 409))


class _Start(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PressCycleRun(_Start):
    """Start a press cycle."""

    kind: Literal["press_cycle"]
    params: PressCycleParams = Field(default_factory=PressCycleParams)


class PeelTestRun(_Start):
    """Start a peel test."""

    kind: Literal["peel_test"]
    params: PeelTestParams


class AgingRunRun(_Start):
    """Start an aging run."""

    kind: Literal["aging_run"]
    params: AgingRunParams


class LaserJobRun(_Start):
    """Start a laser job."""

    kind: Literal["laser_job"]
    params: LaserRunParams


class CampaignRun(_Start):
    """Start (or resume) a campaign."""

    kind: Literal["campaign"]
    params: CampaignParams


RunRequest = Annotated[
    PressCycleRun | PeelTestRun | AgingRunRun | LaserJobRun | CampaignRun,
    Field(discriminator="kind"),
]


@router.post("", response_model=RunStarted, status_code=201, **audited("run.start"))
async def start(body: RunRequest, request: Request, me: Operator,
                station: StationDep) -> RunStarted:
    """Start a run of any kind (operator); 409 while its instrument is busy."""
    note_detail(request, params=body.params.model_dump(mode="json"))
    return await start_run(request, station, body.kind, body.params, me.name,
                           action="run.start", loc=("body", body.kind, "params"))


@router.get("/active", response_model=list[ActiveRunOut])
async def active(_: Viewer, station: StationDep) -> list[ActiveRunOut]:
    """The runs live in this station now, oldest first."""
    return [
        ActiveRunOut(run_id=r.run_id, kind=r.kind, instruments=list(r.instruments),
                     operator=r.operator, source=r.source, parent=r.parent,
                     started_wall=r.started_wall, started_ts=r.started_ts, phase=r.phase)
        for r in station.run_engine.active()
    ]


@router.get("/kinds", response_model=list[RunKindOut])
async def kinds(_: Viewer, station: StationDep) -> list[RunKindOut]:
    """The kinds of run this station starts, with their parameter schemas (the recipe
    windows declared as ``minimum``/``maximum``: the dashboard builds its forms from them)."""
    return [
        RunKindOut(kind=k.name, description=k.description, resumable=k.resumable,
                   params_schema=declare_recipe_windows(k.params_model.model_json_schema()))
        for k in station.run_engine.kinds.values()
    ]
