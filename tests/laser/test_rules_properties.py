"""Property tests of the parameter validation and the O / Δ / X grading rule."""

from __future__ import annotations

import dataclasses
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


# Edges of the rule pinned with numbers a lab checks by hand. The property tests above
# take the module's constants as the answer key; these do not, so a moved threshold fails.

TOP_UM = 40.0


def job(*, open_clean: int = 0, open_dross: int = 0, closed: int = 0,
        closed_dross: int = 0, bottom_um: float = 32.0) -> list[HoleResult]:
    """A job of holes 40 µm at the top; open ones ``bottom_um`` at the bottom (taper 0.8)."""
    holes = [HoleResult(0, TOP_UM, bottom_um, False) for _ in range(open_clean)]
    holes += [HoleResult(0, TOP_UM, bottom_um, True) for _ in range(open_dross)]
    holes += [HoleResult(0, TOP_UM, 0.0, False) for _ in range(closed)]
    holes += [HoleResult(0, TOP_UM, 0.0, True) for _ in range(closed_dross)]
    return holes


def tapered(tapers: list[float]) -> list[HoleResult]:
    """Clean open holes with the given bottom/top ratios (top 40 µm)."""
    return [HoleResult(i, TOP_UM, TOP_UM * t, False) for i, t in enumerate(tapers)]


def test_95_of_100_holes_open_is_not_X_but_94_is() -> None:
    g = grade_job(job(open_clean=95, closed=5))
    assert g.grade == "O"
    assert (g.holes_inspected, g.holes_open, g.open_share) == (100, 95, 0.95)
    assert grade_job(job(open_clean=94, closed=6)).grade == "X"
    assert grade_job(job(open_clean=19, closed=1)).grade == "O"  # 19/20 = 95 %
    assert grade_job(job(open_clean=18, closed=2)).grade == "X"  # 18/20 = 90 %


def test_4_of_100_holes_with_dross_is_O_and_5_is_delta() -> None:
    g = grade_job(job(open_clean=96, open_dross=4))
    assert g.grade == "O"
    assert (g.holes_with_dross, g.dross_share) == (4, 0.04)
    g = grade_job(job(open_clean=95, open_dross=5))
    assert g.grade == "Δ"
    assert (g.holes_with_dross, g.dross_share) == (5, 0.05)
    assert grade_job(job(open_dross=100)).grade == "Δ"


def test_dross_share_is_of_the_inspected_holes_not_of_the_open_ones() -> None:
    # 48 dross of 1000 inspected is 4.8 % (O); of the 950 open it would be 5.05 % (Δ).
    g = grade_job(job(open_clean=902, open_dross=48, closed=50))
    assert g.grade == "O"
    assert g.dross_share == pytest.approx(0.048)


def test_dross_on_a_hole_that_did_not_open_does_not_count_as_dross() -> None:
    g = grade_job(job(open_clean=92, open_dross=4, closed_dross=4))
    assert g.holes_with_dross == 4 and g.dross_share == 0.04
    assert g.grade == "O"  # counting the 4 closed ones too would make it 8 % (Δ)


def test_median_taper_0_6_is_O_and_0_59_is_delta() -> None:
    g = grade_job(job(open_clean=10, bottom_um=24.0))  # 24/40 = 0.6
    assert g.grade == "O" and g.median_taper == 0.6
    g = grade_job(job(open_clean=10, bottom_um=23.6))  # 23.6/40 = 0.59
    assert g.grade == "Δ" and g.median_taper == pytest.approx(0.59)


def test_taper_is_bottom_over_top_diameter() -> None:
    g = grade_job([HoleResult(0, 50.0, 35.0, False)])
    assert g.median_taper == pytest.approx(0.7)


def test_median_taper_of_an_odd_count_is_the_middle_hole_not_the_mean() -> None:
    g = grade_job(tapered([0.3, 0.6, 0.65]))  # mean 0.517 would be Δ
    assert g.median_taper == pytest.approx(0.6) and g.grade == "O"
    g = grade_job(tapered([0.59, 0.59, 0.95]))  # mean 0.71 would be O
    assert g.median_taper == pytest.approx(0.59) and g.grade == "Δ"


def test_median_taper_of_an_even_count_averages_the_two_middle_holes() -> None:
    g = grade_job(tapered([0.5, 0.55, 0.7, 0.8]))  # (0.55 + 0.7) / 2
    assert g.median_taper == pytest.approx(0.625) and g.grade == "O"
    g = grade_job(tapered([0.5, 0.55, 0.62, 0.8]))  # (0.55 + 0.62) / 2
    assert g.median_taper == pytest.approx(0.585) and g.grade == "Δ"


def test_median_taper_leaves_out_the_holes_that_did_not_open() -> None:
    # 95 open: 47 at 0.5 and 48 at 0.8, median 0.8. With the 5 closed holes (taper 0)
    # in the count the median would be 0.5.
    holes = tapered([0.5] * 47 + [0.8] * 48) + job(closed=5)
    g = grade_job(holes)
    assert g.median_taper == pytest.approx(0.8) and g.grade == "O"


def test_a_job_where_no_hole_opened_is_X_with_no_taper() -> None:
    g = grade_job(job(closed=3, closed_dross=2))
    assert g.grade == "X"
    assert (g.holes_open, g.holes_with_dross, g.open_share, g.median_taper) == (0, 0, 0.0, None)
    assert g.as_dict()["median_taper"] is None


def test_one_hole_is_graded_X_delta_or_O() -> None:
    assert hole_grade(HoleResult(0, 40.0, 0.0, False)) == "X"
    assert hole_grade(HoleResult(0, 40.0, 0.0, True)) == "X"
    assert hole_grade(HoleResult(0, 40.0, 30.0, True)) == "Δ"
    assert hole_grade(HoleResult(0, 40.0, 30.0, False)) == "O"


def test_the_result_event_carries_the_figures_rounded_and_the_rule_in_words() -> None:
    holes = tapered([2 / 3] * 95) + job(closed=5)
    holes[0] = HoleResult(0, TOP_UM, TOP_UM * 2 / 3, True)
    holes[1] = HoleResult(1, 30.0, 20.0, True)
    holes[2] = HoleResult(2, 30.0, 20.0, True)
    # 95 of 100 open, 3 with dross; every taper 2/3 = 0.66667.
    assert grade_job(holes).as_dict() == {
        "grade": "O",
        "holes_inspected": 100,
        "holes_open": 95,
        "holes_with_dross": 3,
        "open_share": 0.95,
        "dross_share": 0.03,
        "median_taper": 0.6667,
        "rule": "X if < 95% of inspected holes open; "
                "O if open and < 5% with dross and median taper ≥ 0.6; Δ otherwise",
    }
    third = grade_job(job(open_clean=2, closed=1)).as_dict()
    assert (third["open_share"], third["grade"]) == (0.6667, "X")
    assert grade_job(job(open_clean=6, open_dross=1)).as_dict()["dross_share"] == 0.1429


def test_a_grade_once_given_cannot_be_altered() -> None:
    g = grade_job(job(open_clean=94, closed=6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.grade = "O"  # type: ignore[misc]


def test_no_holes_cannot_be_graded_and_the_error_says_why() -> None:
    with pytest.raises(ValueError, match="no holes inspected"):
        grade_job([])


def test_up_to_1000_holes_are_all_inspected_above_that_every_kth() -> None:
    assert inspection_indices(0) == range(0)
    assert len(inspection_indices(-5)) == 0
    assert list(inspection_indices(1)) == [0]
    assert inspection_indices(1000) == range(1000)
    assert inspection_indices(1001) == range(0, 1001, 2)  # 501 holes: every 2nd
    assert inspection_indices(2000) == range(0, 2000, 2)  # 1000 holes
    assert inspection_indices(2001) == range(0, 2001, 3)  # 667 holes: every 3rd
    assert list(inspection_indices(25, 10)) == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert list(inspection_indices(7, 10)) == [0, 1, 2, 3, 4, 5, 6]
