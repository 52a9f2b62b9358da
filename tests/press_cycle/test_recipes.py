"""Recipe validation: the process window, in plain words, with property tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.recipes import (
    WINDOWS,
    PressRecipe,
    RecipeError,
    RecipeOutOfRange,
    load_recipe,
    parse_recipe,
    recipe_from_options,
)

PROCESS_WINDOW = ("temperature_c", "pressure_mpa", "dwell_min")


def inside(field: str) -> st.SearchStrategy[float]:
    w = WINDOWS[field]
    return st.floats(min_value=w.low, max_value=w.high, allow_nan=False)


def outside(field: str) -> st.SearchStrategy[float]:
    w = WINDOWS[field]
    below = st.floats(max_value=w.low, exclude_max=True, allow_nan=False)
    above = st.floats(min_value=w.high, exclude_min=True, allow_nan=False)
    return st.one_of(below, above, st.just(math.nan))


@given(
    temperature_c=inside("temperature_c"),
    pressure_mpa=inside("pressure_mpa"),
    dwell_min=inside("dwell_min"),
    ramp=inside("ramp_rate_c_per_min"),
    t_tol=inside("temperature_tolerance_c"),
    p_tol=inside("pressure_tolerance_mpa"),
)
def test_any_recipe_inside_the_window_is_accepted(
    temperature_c: float, pressure_mpa: float, dwell_min: float, ramp: float,
    t_tol: float, p_tol: float,
) -> None:
    recipe = parse_recipe({
        "temperature_c": temperature_c, "pressure_mpa": pressure_mpa, "dwell_min": dwell_min,
        "ramp_rate_c_per_min": ramp, "temperature_tolerance_c": t_tol,
        "pressure_tolerance_mpa": p_tol,
    })
    assert recipe.temperature_c == temperature_c
    assert recipe.pressure_mpa == pressure_mpa
    assert recipe.dwell_min == dwell_min


@given(data=st.data(), field=st.sampled_from(sorted(WINDOWS)))
def test_any_value_outside_its_window_is_refused_naming_the_field(
    data: st.DataObject, field: str
) -> None:
    value = data.draw(outside(field))
    values: dict[str, float] = {field: value}
    if field == "unload_temperature_c":
        values["temperature_c"] = 200.0
    with pytest.raises(RecipeOutOfRange) as caught:
        parse_recipe(values)
    w = WINDOWS[field]
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith(f"{w.label} ")
    assert "is outside the allowed window" in message
    assert w.unit in message


@pytest.mark.parametrize("field", PROCESS_WINDOW)
def test_window_boundaries_are_inclusive(field: str) -> None:
    w = WINDOWS[field]
    for value in (w.low, w.high):
        assert getattr(parse_recipe({field: value}), field) == value


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temperature_c": 250}, "temperature 250 °C is outside the allowed window 150–200 °C"),
        ({"pressure_mpa": 12}, "pressure 12 MPa is outside the allowed window 0.1–10 MPa"),
        ({"dwell_min": 30}, "dwell 30 min is outside the allowed window 5–20 min"),
    ],
)
def test_the_three_refusals_read_in_plain_words(values: dict[str, float], message: str) -> None:
    with pytest.raises(RecipeOutOfRange, match=message):
        parse_recipe(values)


def test_default_recipe_is_the_patent_example() -> None:
    r = PressRecipe()
    assert (r.temperature_c, r.pressure_mpa, r.dwell_min) == (200.0, 3.0, 20.0)
    assert r.temperature_tolerance_c == 3.0 and r.pressure_tolerance_mpa == 0.2
    assert r.unload_temperature_c == 60.0
    assert r.effective_heat_timeout_min() == pytest.approx(17.5 + 30)


def test_unload_temperature_stays_well_below_any_setpoint() -> None:
    with pytest.raises(RecipeOutOfRange, match="unload temperature 130 °C is outside"):
        parse_recipe({"temperature_c": 150, "unload_temperature_c": 130})


@pytest.mark.parametrize(
    ("values", "words"),
    [({"temperature_c": "hot"}, "temperature: input should be a valid number"),
     ({"temprature_c": 180}, "unknown recipe field 'temprature_c'")],
)
def test_other_bad_input_is_a_plain_recipe_error(values: dict[str, object], words: str) -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(values)
    assert not isinstance(caught.value, RecipeOutOfRange)
    assert words in str(caught.value)


def test_recipe_files_toml_and_json_with_overrides(tmp_path: Path) -> None:
    toml_file = tmp_path / "ex1.toml"
    toml_file.write_text('[recipe]\ntemperature_c = 180\npressure_mpa = 2.5\ndwell_min = 10\n')
    recipe = load_recipe(toml_file, dwell_min=12, pressure_mpa=None)
    assert (recipe.name, recipe.temperature_c, recipe.pressure_mpa, recipe.dwell_min) == (
        "ex1", 180.0, 2.5, 12.0)
    json_file = tmp_path / "hot.json"
    json_file.write_text(json.dumps({"name": "too hot", "temperature_c": 230}))
    with pytest.raises(RecipeOutOfRange, match="temperature 230 °C"):
        recipe_from_options(json_file)
    broken = tmp_path / "broken.toml"
    broken.write_text("temperature_c = = 3")
    with pytest.raises(RecipeError, match="does not parse"):
        load_recipe(broken)
    with pytest.raises(RecipeError, match="cannot read recipe file"):
        load_recipe(tmp_path / "missing.toml")
