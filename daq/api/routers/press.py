"""Press cycles: start one from a stored recipe or from recipe values (operator)."""

from __future__ import annotations

import inspect

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError

from daq.api.audit import audited, note_action, note_detail
from daq.api.deps import LabDep, Operator, SessionDep
from daq.api.routers.recipes import DEFAULT_NAME, find_recipe
from daq.api.schemas import PressCycleRequest, RunStarted, error_responses
from daq.recipes import RecipeError
from daq.service import LabError

router = APIRouter(
    prefix="/api/press", tags=["press"], responses=error_responses(401, 403, 404, 409)
)


@router.post("/cycles", response_model=RunStarted, status_code=201, **audited("press.start"))
async def start_cycle(
    body: PressCycleRequest, request: Request, me: Operator, session: SessionDep, lab: LabDep
) -> RunStarted:
    """Start a press cycle (operator). Refused with 409 while the press is busy."""
    note_action(request, "press.start", target="press")
    recipe = body.recipe
    if recipe is None:
        name = body.recipe_name or DEFAULT_NAME
        recipe = await find_recipe(session, name)
        if recipe is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recipe {name!r}")
    note_detail(request, recipe=recipe.model_dump(mode="json"), sample_id=body.sample_id)
    try:
        run_id = await _start(lab, recipe, me.name, body.sample_id)
    except RecipeError as exc:  # already validated above; kept for recipes stored long ago
        raise RequestValidationError(
            [{"type": "recipe", "loc": ("body", "recipe"), "msg": p} for p in exc.problems]
        ) from None
    except LabError as exc:  # press busy or missing
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    note_action(request, "press.start", target=run_id)
    return RunStarted(run_id=run_id, kind="press_cycle")


async def _start(lab: LabDep, recipe: object, operator: str, sample_id: str | None) -> str:
    start = lab.start_press_cycle
    if sample_id is not None and "sample_id" in inspect.signature(start).parameters:
        return str(await start(recipe, operator, sample_id=sample_id))
    return str(await start(recipe, operator))
