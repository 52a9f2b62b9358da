"""Press recipes: list, read, create, replace, delete; the allowed windows for forms.

Every stored recipe is validated by :class:`daq.recipes.PressRecipe`, so a value outside
the process window is refused with 422 naming the field and the range. The built-in
``default`` recipe (the patent's 200 °C / 3 MPa / 20 min) always exists and is read-only.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from sqlalchemy import select

from daq.api.audit import audited, note_action
from daq.api.deps import Operator, SessionDep, Viewer
from daq.api.schemas import RecipeOut, WindowOut, error_responses
from daq.recipes import WINDOWS, PressRecipe
from daq.storage.auth_models import SavedRecipe

router = APIRouter(
    prefix="/api/recipes", tags=["recipes"], responses=error_responses(401, 403, 404, 409)
)

DEFAULT_NAME = "default"
RecipeName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


def default_recipe() -> PressRecipe:
    """The patent's worked example."""
    return PressRecipe(name=DEFAULT_NAME)


def _out(row: SavedRecipe) -> RecipeOut:
    recipe = PressRecipe.model_validate(row.body)
    return RecipeOut(
        name=row.name,
        recipe=recipe,
        description=recipe.describe(),
        created_ts=row.created_ts,
        updated_ts=row.updated_ts,
        created_by=row.created_by,
    )


def _builtin() -> RecipeOut:
    recipe = default_recipe()
    return RecipeOut(name=DEFAULT_NAME, recipe=recipe, description=recipe.describe(), builtin=True)


async def find_recipe(session: SessionDep, name: str) -> PressRecipe | None:
    """A recipe by name (the built-in default included)."""
    if name == DEFAULT_NAME:
        return default_recipe()
    row = await session.get(SavedRecipe, name)
    return PressRecipe.model_validate(row.body) if row else None


@router.get("/limits", response_model=dict[str, WindowOut])
async def limits(_: Viewer) -> dict[str, WindowOut]:
    """The allowed range of every numeric recipe field (what the form shows)."""
    return {
        name: WindowOut(label=w.label, low=w.low, high=w.high, unit=w.unit)
        for name, w in WINDOWS.items()
    }


@router.get("", response_model=list[RecipeOut])
async def list_recipes(_: Viewer, session: SessionDep) -> list[RecipeOut]:
    """Every recipe, the built-in default first."""
    rows = (await session.scalars(select(SavedRecipe).order_by(SavedRecipe.name))).all()
    return [_builtin(), *(_out(r) for r in rows)]


@router.get("/{name}", response_model=RecipeOut)
async def get_recipe(name: RecipeName, _: Viewer, session: SessionDep) -> RecipeOut:
    """One recipe."""
    if name == DEFAULT_NAME:
        return _builtin()
    row = await session.get(SavedRecipe, name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recipe {name!r}")
    return _out(row)


@router.put("/{name}", response_model=RecipeOut, **audited("recipe.put"))
async def put_recipe(
    name: RecipeName, recipe: PressRecipe, request: Request, me: Operator, session: SessionDep
) -> RecipeOut:
    """Create or replace a recipe (operator); validated against the process window."""
    row = await session.get(SavedRecipe, name)
    note_action(
        request,
        "recipe.put",
        target=name,
        created=row is None,
        recipe=recipe.model_dump(mode="json"),
    )
    if name == DEFAULT_NAME:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the default recipe is read-only")
    body = recipe.model_copy(update={"name": name}).model_dump(mode="json")
    now = time.time()
    if row is None:
        row = SavedRecipe(name=name, body=body, created_ts=now, updated_ts=now, created_by=me.name)
        session.add(row)
    else:
        row.body = body
        row.updated_ts = now
    await session.commit()
    return _out(row)


@router.delete("/{name}", status_code=204, **audited("recipe.delete"))
async def delete_recipe(
    name: RecipeName, request: Request, _: Operator, session: SessionDep
) -> None:
    """Delete a recipe (operator)."""
    note_action(request, "recipe.delete", target=name)
    if name == DEFAULT_NAME:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the default recipe is read-only")
    row = await session.get(SavedRecipe, name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recipe {name!r}")
    await session.delete(row)
    await session.commit()
