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


# -- every window pinned to the numbers the lab set, edges included ------------------------

#: (field, lowest accepted, highest accepted, just below, just above, how the window reads).
#: Literal numbers, not WINDOWS: a window moved in the code must fail here.
LAB_WINDOWS = [
    ("temperature_c", 150, 200, 149.99, 200.01, "150–200 °C"),
    ("pressure_mpa", 0.1, 10, 0.099, 10.01, "0.1–10 MPa"),
    ("dwell_min", 5, 20, 4.99, 20.01, "5–20 min"),
    ("ramp_rate_c_per_min", 1, 30, 0.99, 30.01, "1–30 °C/min"),
    ("temperature_tolerance_c", 0.5, 10, 0.49, 10.01, "0.5–10 °C"),
    ("pressure_tolerance_mpa", 0.01, 1, 0.0099, 1.001, "0.01–1 MPa"),
    ("unload_temperature_c", 30, 120, 29.99, 120.01, "30–120 °C"),
    ("heat_timeout_min", 1, 600, 0.99, 600.01, "1–600 min"),
    ("pressure_timeout_min", 0.5, 60, 0.49, 60.01, "0.5–60 min"),
    ("cool_timeout_min", 1, 600, 0.99, 600.01, "1–600 min"),
    ("release_timeout_min", 0.5, 60, 0.49, 60.01, "0.5–60 min"),
]


@pytest.mark.parametrize(("field", "low", "high", "below", "above", "words"), LAB_WINDOWS)
def test_each_window_accepts_its_edges_and_refuses_just_outside(
    field: str, low: float, high: float, below: float, above: float, words: str
) -> None:
    for edge in (low, high):
        assert getattr(parse_recipe({field: edge}), field) == edge
    for outside_value in (below, above):
        with pytest.raises(RecipeOutOfRange) as caught:
            parse_recipe({field: outside_value})
        assert caught.value.field == field
        assert caught.value.value == outside_value
        assert (caught.value.window.low, caught.value.window.high) == (low, high)
        assert f"is outside the allowed window {words}" in str(caught.value)


def test_a_ramp_rate_refusal_names_the_ramp_and_its_unit() -> None:
    with pytest.raises(RecipeOutOfRange) as caught:
        parse_recipe({"ramp_rate_c_per_min": 45})
    assert caught.value.problems == [
        "ramp rate 45 °C/min is outside the allowed window 1–30 °C/min"]


def test_every_fault_is_listed_and_the_first_out_of_range_field_is_named() -> None:
    with pytest.raises(RecipeOutOfRange) as caught:
        parse_recipe({"temperature_c": 250, "dwell_min": 3, "pressure_timeout_min": 90})
    assert caught.value.field == "temperature_c"
    assert caught.value.problems == [
        "temperature 250 °C is outside the allowed window 150–200 °C",
        "dwell 3 min is outside the allowed window 5–20 min",
        "pressure timeout 90 min is outside the allowed window 0.5–60 min",
    ]
    assert str(caught.value) == "; ".join(caught.value.problems)


@pytest.mark.parametrize(
    ("value", "reads"),
    [(1234567, "1234567"), (999999999999999, "999999999999999"), (1e15, "1e+15"),
     (1e300, "1e+300"), (math.inf, "inf"), (math.nan, "nan"), (0.099, "0.099")],
)
def test_the_refused_value_is_repeated_as_typed_and_huge_ones_stay_short(
    value: float, reads: str
) -> None:
    # Whole numbers print without ".0" up to 10^15; from there on, and for inf and NaN,
    # in short float notation, so a typo like 1e300 does not print 300 digits.
    with pytest.raises(RecipeOutOfRange) as caught:
        parse_recipe({"pressure_mpa": value})
    assert str(caught.value).startswith(f"pressure {reads} MPa is outside")


def test_default_recipe_pins_every_secondary_value() -> None:
    r = PressRecipe()
    assert r.name == "patent-example"
    assert r.ramp_rate_c_per_min == 10.0
    assert r.heat_timeout_min is None
    assert (r.pressure_timeout_min, r.cool_timeout_min, r.release_timeout_min) == (
        5.0, 120.0, 5.0)
    assert r.describe() == "200 °C, 3 MPa, 20 min (ramp 10 °C/min)"


def test_heat_timeout_is_the_ramp_from_room_temperature_plus_30_min() -> None:
    # 150 °C at 5 °C/min from 25 °C: 125 / 5 = 25 min of ramp, + 30 min margin.
    recipe = parse_recipe({"temperature_c": 150, "ramp_rate_c_per_min": 5})
    assert recipe.effective_heat_timeout_min() == pytest.approx(55.0)
    # From a 100 °C platen: 50 / 5 = 10 min + 30.
    assert recipe.effective_heat_timeout_min(ambient_c=100.0) == pytest.approx(40.0)


def test_a_press_already_above_setpoint_gets_only_the_30_min_margin() -> None:
    # Straight after a 200 °C cycle the platens are at 180 °C; a 150 °C recipe has no
    # ramp to wait for (not a negative one).
    recipe = parse_recipe({"temperature_c": 150})
    assert recipe.effective_heat_timeout_min(ambient_c=180.0) == pytest.approx(30.0)


def test_an_explicit_heat_timeout_wins_over_the_ramp_estimate() -> None:
    recipe = parse_recipe({"heat_timeout_min": 12.5})
    assert recipe.heat_timeout_min == 12.5
    assert recipe.effective_heat_timeout_min() == 12.5


def test_a_validated_recipe_cannot_be_changed_afterwards() -> None:
    # A recipe is validated once; a later change would skip the window check.
    from pydantic import ValidationError

    recipe = PressRecipe()
    with pytest.raises(ValidationError):
        recipe.temperature_c = 250.0  # type: ignore[misc]
    assert recipe.temperature_c == 200.0


def test_the_windows_cannot_be_widened_at_run_time() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        WINDOWS["temperature_c"].high = 250.0  # type: ignore[misc]


def test_a_recipe_that_is_not_a_table_is_refused_in_plain_words() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(["200 °C", "3 MPa"])  # type: ignore[arg-type]
    assert not isinstance(caught.value, RecipeOutOfRange)
    assert "valid dictionary" in str(caught.value)


def test_a_recipe_file_holding_a_list_is_refused(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[200, 3, 20]")
    with pytest.raises(RecipeError, match="must hold a table of recipe fields"):
        load_recipe(listed)


def test_top_level_toml_keys_and_the_file_name_as_recipe_name(tmp_path: Path) -> None:
    flat = tmp_path / "quick-150.toml"
    flat.write_text("temperature_c = 150\ndwell_min = 5\n")
    recipe = load_recipe(flat)
    assert (recipe.name, recipe.temperature_c, recipe.dwell_min) == ("quick-150", 150.0, 5.0)
    named = tmp_path / "file-name.json"
    named.write_text(json.dumps({"name": "EX1 lamination", "pressure_mpa": 3}))
    assert load_recipe(named).name == "EX1 lamination"


def test_options_without_a_file_keep_the_defaults_they_do_not_set() -> None:
    recipe = recipe_from_options(temperature_c=180, dwell_min=None)
    assert (recipe.temperature_c, recipe.pressure_mpa, recipe.dwell_min) == (180.0, 3.0, 20.0)
    assert recipe.name == "patent-example"
