"""Property tests of the parameter validation and the O / Δ / X grading rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.laser.grading import (
    MAX_DROSS_SHARE,
    MIN_GOOD_TAPER,
    MIN_OPEN_SHARE,
    grade_job,
    hole_grade,
    inspection_indices,
)
from daq.laser.params import LaserJobParams, LaserParameterOutOfRange, validate
from drivers.uv_laser import LASER_LIMITS, HoleResult

L = LASER_LIMITS


def in_range(bounds: tuple[float, float]) -> st.SearchStrategy[float]:
    return st.floats(min_value=bounds[0], max_value=bounds[1], allow_nan=False)


@given(
    n=st.integers(*L.hole_count),
    diameter=in_range(L.diameter_um),
    freq=in_range(L.pulse_frequency_hz),
    rate=in_range(L.hole_rate_hz),
    power=in_range(L.power_w),
)
def test_every_value_inside_the_ranges_is_accepted(
    n: int, diameter: float, freq: float, rate: float, power: float
) -> None:
    params = LaserJobParams("EX1-1", n, diameter, freq, rate, power)
    assert validate(params) is params


FIELDS = {
    "diameter_um": L.diameter_um,
    "pulse_frequency_hz": L.pulse_frequency_hz,
    "hole_rate_hz": L.hole_rate_hz,
    "power_w": L.power_w,
}


@given(
    field=st.sampled_from(sorted(FIELDS)),
    above=st.booleans(),
    excess=st.floats(min_value=1e-6, max_value=1e9, allow_nan=False),
)
def test_every_value_outside_a_range_is_refused_naming_the_field(
    field: str, above: bool, excess: float
) -> None:
    low, high = FIELDS[field]
    value = high + excess if above else low - excess
    params = LaserJobParams("EX1-1", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(LaserParameterOutOfRange) as err:
        validate(params)
    assert err.value.field == field
    assert str(err.value).startswith(field)


@given(st.integers().filter(lambda n: not L.hole_count[0] <= n <= L.hole_count[1]))
def test_hole_counts_outside_the_range_are_refused(n: int) -> None:
    with pytest.raises(LaserParameterOutOfRange):
        validate(LaserJobParams("EX1-1", n_holes=n))


@given(st.text(max_size=80))
def test_a_sample_id_that_could_corrupt_the_command_is_refused(sample_id: str) -> None:
    try:
        validate(LaserJobParams(sample_id))
    except LaserParameterOutOfRange as err:
        assert err.field == "sample_id"
        return
    assert "," not in sample_id and "\n" not in sample_id and " " not in sample_id
    assert 1 <= len(sample_id) <= L.job_name_max_chars


holes_st = st.lists(
    st.builds(
        HoleResult,
        index=st.just(0),
        top_um=st.floats(min_value=30, max_value=50),
        bottom_um=st.one_of(st.just(0.0), st.floats(min_value=1, max_value=49)),
        dross=st.booleans(),
    ),
    min_size=1,
    max_size=200,
)


@given(holes_st)
def test_grade_follows_the_written_rule(holes: list[HoleResult]) -> None:
    g = grade_job(holes)
    opened = [h for h in holes if h.bottom_um > 0]
    assert g.holes_inspected == len(holes) and g.holes_open == len(opened)
    if len(opened) / len(holes) < MIN_OPEN_SHARE:
        assert g.grade == "X"
    elif g.dross_share < MAX_DROSS_SHARE and (g.median_taper or 0) >= MIN_GOOD_TAPER:
        assert g.grade == "O"
    else:
        assert g.grade == "Δ"


@given(holes_st, st.randoms())
def test_grade_does_not_depend_on_hole_order(holes: list[HoleResult], rnd: object) -> None:
    shuffled = list(holes)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert grade_job(shuffled).grade == grade_job(holes).grade


@given(holes_st)
def test_a_job_of_clean_holes_is_O_and_a_job_of_closed_holes_is_X(
    holes: list[HoleResult],
) -> None:
    clean = [HoleResult(i, 40.0, 32.0, False) for i in range(len(holes))]
    closed = [HoleResult(i, 40.0, 0.0, False) for i in range(len(holes))]
    assert grade_job(clean).grade == "O"
    assert grade_job(closed).grade == "X"
    assert all(hole_grade(h) == "X" for h in closed)


def test_no_holes_cannot_be_graded() -> None:
    with pytest.raises(ValueError):
        grade_job([])


@given(st.integers(min_value=0, max_value=200_000), st.integers(min_value=1, max_value=2000))
def test_inspection_sample_is_bounded_and_even(holes_done: int, max_inspected: int) -> None:
    idx = inspection_indices(holes_done, max_inspected)
    assert len(idx) <= max_inspected
    if holes_done:
        assert idx[0] == 0 and idx[-1] < holes_done
        assert len(idx) >= min(holes_done, max_inspected // 2)
        if holes_done <= max_inspected:
            assert list(idx) == list(range(holes_done))
        assert idx.step == max(1, math.ceil(holes_done / max_inspected))
    else:
        assert len(idx) == 0
