"""Press recipes: what a lamination cycle is asked to do, checked against the process window.

The process window comes from the patent (JP2003-027014 [0032], [0013]): 150–200 °C,
0.1–10 MPa, 5–20 min. The default recipe is its worked example, 200 °C / 3 MPa / 20 min
[0057]. A value outside a window is refused with a message that names the field and
the allowed range in plain words (``temperature 250 °C is outside the allowed window
150–200 °C``), both in :class:`RecipeOutOfRange` (CLI, scripts) and in the pydantic
error (HTTP 422), so an operator reads the same sentence everywhere.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Window:
    """The allowed range of one recipe field, inclusive at both ends."""

    label: str
    low: float
    high: float
    unit: str

    def contains(self, value: float) -> bool:
        """True if ``value`` lies inside the window (NaN never does)."""
        return self.low <= value <= self.high

    def describe(self, value: float) -> str:
        """The operator's sentence for a value outside the window."""
        return (
            f"{self.label} {_fmt(value)} {self.unit} is outside the allowed window "
            f"{_fmt(self.low)}–{_fmt(self.high)} {self.unit}"
        )


def _fmt(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


#: The allowed range of every numeric field. The first three are the patent's process
#: window; the rest keep a recipe physically sensible for the press.
WINDOWS: dict[str, Window] = {
    "temperature_c": Window("temperature", 150.0, 200.0, "°C"),
    "pressure_mpa": Window("pressure", 0.1, 10.0, "MPa"),
    "dwell_min": Window("dwell", 5.0, 20.0, "min"),
    "ramp_rate_c_per_min": Window("ramp rate", 1.0, 30.0, "°C/min"),
    "temperature_tolerance_c": Window("temperature tolerance", 0.5, 10.0, "°C"),
    "pressure_tolerance_mpa": Window("pressure tolerance", 0.01, 1.0, "MPa"),
    # Always below the lowest setpoint (150 °C): the press is opened well under bonding heat.
    "unload_temperature_c": Window("unload temperature", 30.0, 120.0, "°C"),
    "heat_timeout_min": Window("heat timeout", 1.0, 600.0, "min"),
    "pressure_timeout_min": Window("pressure timeout", 0.5, 60.0, "min"),
    "cool_timeout_min": Window("cool timeout", 1.0, 600.0, "min"),
    "release_timeout_min": Window("release timeout", 0.5, 60.0, "min"),
}


class RecipeError(ValueError):
    """A recipe that cannot be used; ``problems`` holds one plain sentence per fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class RecipeOutOfRange(RecipeError):
    """A recipe value outside its allowed window; ``field`` names the first such field."""

    def __init__(self, problems: list[str], field: str, value: float, window: Window) -> None:
        super().__init__(problems)
        self.field = field
        self.value = value
        self.window = window


class PressRecipe(BaseModel):
    """One lamination cycle: setpoints, dwell, ramp, tolerances, unload temperature, timeouts.

    Timeouts are in simulated minutes. ``heat_timeout_min`` ``None`` means "the time
    the ramp needs from room temperature, plus 30 min".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "patent-example"
    temperature_c: float = 200.0
    pressure_mpa: float = 3.0
    dwell_min: float = 20.0
    ramp_rate_c_per_min: float = 10.0
    temperature_tolerance_c: float = 3.0
    pressure_tolerance_mpa: float = 0.2
    unload_temperature_c: float = 60.0
    heat_timeout_min: float | None = None
    pressure_timeout_min: float = 5.0
    cool_timeout_min: float = 120.0
    release_timeout_min: float = 5.0

    @field_validator(*WINDOWS, mode="after")
    @classmethod
    def _inside_window(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return value
        assert info.field_name is not None
        window = WINDOWS[info.field_name]
        if not window.contains(value):
            raise PydanticCustomError(
                "out_of_range",
                window.describe(value),
                {"low": window.low, "high": window.high, "unit": window.unit},
            )
        return value

    def effective_heat_timeout_min(self, ambient_c: float = 25.0) -> float:
        """The heat timeout in force (the explicit one, or ramp time + 30 min)."""
        if self.heat_timeout_min is not None:
            return self.heat_timeout_min
        return max(0.0, self.temperature_c - ambient_c) / self.ramp_rate_c_per_min + 30.0

    def describe(self) -> str:
        """One line for an operator: ``200 °C, 3 MPa, 20 min (ramp 10 °C/min)``."""
        return (
            f"{_fmt(self.temperature_c)} °C, {_fmt(self.pressure_mpa)} MPa, "
            f"{_fmt(self.dwell_min)} min (ramp {_fmt(self.ramp_rate_c_per_min)} °C/min)"
        )


def parse_recipe(values: dict[str, Any]) -> PressRecipe:
    """A validated recipe, or :class:`RecipeOutOfRange` / :class:`RecipeError` in plain words."""
    try:
        return PressRecipe.model_validate(values)
    except ValidationError as exc:
        raise _recipe_error(exc, values) from None


def _recipe_error(exc: ValidationError, values: dict[str, Any]) -> RecipeError:
    problems: list[str] = []
    first_range: tuple[str, float, Window] | None = None
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        if err["type"] == "out_of_range":
            field = str(err["loc"][0])
            problems.append(err["msg"])
            if first_range is None:
                first_range = (field, float(err["input"]), WINDOWS[field])
        elif err["type"] == "extra_forbidden":
            problems.append(f"unknown recipe field {loc!r} (known: {', '.join(_FIELDS)})")
        elif loc:
            label = WINDOWS[loc].label if loc in WINDOWS else loc
            problems.append(f"{label}: {err['msg'].lower()} (got {err['input']!r})")
        else:
            problems.append(err["msg"])
    if first_range is not None:
        return RecipeOutOfRange(problems, *first_range)
    return RecipeError(problems)


_FIELDS = list(PressRecipe.model_fields)


def load_recipe(path: Path | str, **overrides: Any) -> PressRecipe:
    """A recipe from a TOML or JSON file (a ``[recipe]`` table or top-level keys).

    ``overrides`` that are not ``None`` replace the file's values (command-line flags).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError([f"cannot read recipe file {path}: {exc.strerror or exc}"]) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError([f"recipe file {path} does not parse: {exc}"]) from None
    if not isinstance(data, dict):
        raise RecipeError([f"recipe file {path} must hold a table of recipe fields"])
    if isinstance(data.get("recipe"), dict):
        data = data["recipe"]
    data.setdefault("name", path.stem)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return parse_recipe(data)


def recipe_from_options(path: Path | str | None = None, **values: Any) -> PressRecipe:
    """A recipe from a file (if given) with ``values`` over it, or from ``values`` alone."""
    if path is not None:
        return load_recipe(path, **values)
    return parse_recipe({k: v for k, v in values.items() if v is not None})
