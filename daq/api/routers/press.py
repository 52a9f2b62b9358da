"""Press cycles: start one from a stored recipe or from recipe values (operator).

An alias of ``POST /api/runs`` with ``kind=press_cycle``: the same run engine, the same
refusals (409 naming the run that holds the press)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from daq.api.audit import audited, note_detail
from daq.api.deps import Operator, StationDep
from daq.api.routers.recipes import DEFAULT_NAME
from daq.api.schemas import PressCycleRequest, RunStarted, error_responses
from daq.api.starting import start_run
from daq.press.params import PressCycleParams

router = APIRouter(
    prefix="/api/press", tags=["press"], responses=error_responses(401, 403, 404, 409)
)


@router.post("/cycles", response_model=RunStarted, status_code=201, **audited("press.start"))
async def start_cycle(
    body: PressCycleRequest, request: Request, me: Operator, station: StationDep
) -> RunStarted:
    """Start a press cycle (operator). Refused with 409 while the press is busy."""
    if body.recipe is not None:
        params = PressCycleParams.of(body.recipe, sample_id=body.sample_id)
        note_detail(request, recipe=body.recipe.model_dump(mode="json"))
    else:
        params = PressCycleParams(recipe_name=body.recipe_name or DEFAULT_NAME,
                                  sample_id=body.sample_id)
        note_detail(request, recipe_name=params.recipe_name)
    note_detail(request, sample_id=body.sample_id)
    return await start_run(request, station, "press_cycle", params, me.name,
                           action="press.start", loc=("body", "recipe"))
