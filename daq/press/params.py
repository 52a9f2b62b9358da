"""Parameters of a press cycle: the recipe's fields (checked against the process
window, :data:`daq.recipes.WINDOWS`), or a stored recipe by name with fields over it, the
sample lot being laminated, and which press.

One model for the HTTP body (``POST /api/runs`` with ``kind=press_cycle``), the CLI
options and a campaign's ``[press]`` table.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from daq.recipes import PressRecipe

#: The name that means the built-in recipe (the patent's 200 °C / 3 MPa / 20 min).
DEFAULT_RECIPE_NAME = "default"


class PressCycleParams(PressRecipe):
    """A press cycle: recipe fields, or ``recipe_name`` with fields over it; sample; press."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipe_name: str | None = Field(
        default=None, max_length=64,
        description="a stored recipe; fields given beside it override its values "
        "('default' is the patent's 200 °C/3 MPa/20 min)")
    sample_id: str | None = Field(default=None, max_length=64,
                                  description="the sample lot being laminated")
    press: str | None = Field(default=None, max_length=64,
                              description="which press (default: the station's first)")

    def recipe_fields(self) -> dict[str, Any]:
        """The recipe part of the parameters, only the fields set explicitly."""
        own = {"recipe_name", "sample_id", "press"}
        return {k: v for k, v in self.model_dump().items()
                if k not in own and k in self.model_fields_set}

    def recipe(self, base: PressRecipe | None = None) -> PressRecipe:
        """The recipe to run: ``base`` (a stored recipe) with the explicit fields over it,
        or the explicit fields over the defaults."""
        if base is None:
            values = {k: v for k, v in self.model_dump().items()
                      if k not in ("recipe_name", "sample_id", "press")}
            return PressRecipe.model_validate(values)
        return PressRecipe.model_validate({**base.model_dump(), **self.recipe_fields()})

    @classmethod
    def of(cls, recipe: PressRecipe, *, sample_id: str | None = None,
           press: str | None = None) -> PressCycleParams:
        """Parameters running exactly ``recipe``."""
        return cls.model_validate({**recipe.model_dump(), "sample_id": sample_id,
                                   "press": press})
