"""The peel-strength calculation: steady-region rule, N/cm, statistics (unit + properties)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.peel.calculation import (
    PeelCalculationError,
    SteadyRegionRule,
    peel_result,
    steady_region,
    summarize,
)
from daq.storage.peel_models import pack_curve, unpack_curve

forces = st.floats(min_value=0.01, max_value=45.0, allow_nan=False)
widths = st.floats(min_value=0.5, max_value=25.0, allow_nan=False)


def travel(n: int, length_mm: float = 50.0) -> list[float]:
    return [length_mm * i / (n - 1) for i in range(n)]


def test_example_1_strip_at_2_7_n_is_9_n_per_cm() -> None:
    mm = travel(1000)
    result = peel_result(mm, [2.7] * 1000, width_mm=3.0)
    assert result.peel_strength_n_per_cm == pytest.approx(9.0)
    assert result.sd_force_n == pytest.approx(0.0, abs=1e-12)


def test_default_rule_excludes_first_20_and_last_10_percent_of_travel() -> None:
    assert steady_region([0.0, 50.0]) == pytest.approx((10.0, 45.0))
    assert steady_region([5.0, 55.0], SteadyRegionRule(0.1, 0.1)) == pytest.approx((10.0, 50.0))


def test_statistics_are_those_of_the_steady_region_only() -> None:
    mm = travel(101, 100.0)  # 1 mm steps: steady region is 20…90 mm, 71 points
    force = [9.9 if x < 20 or x > 90 else (1.0 if int(x) % 2 else 3.0) for x in mm]
    r = peel_result(mm, force, width_mm=10.0)
    assert r.n_samples == 71
    assert (r.min_force_n, r.max_force_n) == (1.0, 3.0)
    assert r.mean_force_n == pytest.approx((36 * 3.0 + 35 * 1.0) / 71)
    assert r.peel_strength_n_per_cm == pytest.approx(r.mean_force_n)  # 10 mm = 1 cm
    assert r.sd_n_per_cm == pytest.approx(r.sd_force_n)


def test_a_curve_too_short_for_a_steady_region_is_refused() -> None:
    with pytest.raises(PeelCalculationError, match="peel too short"):
        peel_result([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], 3.0)
    with pytest.raises(PeelCalculationError, match="no points"):
        peel_result([], [], 3.0)


@pytest.mark.parametrize("width", [0.0, -3.0, math.nan])
def test_a_bad_width_is_refused(width: float) -> None:
    with pytest.raises(PeelCalculationError, match="width"):
        peel_result(travel(100), [1.0] * 100, width)


def test_a_rule_that_excludes_everything_is_refused() -> None:
    with pytest.raises(PeelCalculationError, match="exclude the whole travel"):
        SteadyRegionRule(0.6, 0.5)


@settings(max_examples=200, deadline=None)
@given(force=forces, width_mm=widths, n=st.integers(min_value=50, max_value=3000))
def test_constant_force_f_on_width_w_gives_f_over_w_cm(
    force: float, width_mm: float, n: int
) -> None:
    r = peel_result(travel(n), [force] * n, width_mm)
    assert r.peel_strength_n_per_cm == pytest.approx(force / (width_mm / 10.0), rel=1e-9)
    assert r.min_force_n == r.max_force_n == force


@settings(max_examples=200, deadline=None)
@given(
    force=forces,
    width_mm=widths,
    start=st.lists(st.floats(0.0, 200.0, allow_nan=False), min_size=19, max_size=19),
    end=st.lists(st.floats(0.0, 200.0, allow_nan=False), min_size=9, max_size=9),
)
def test_transients_outside_the_steady_region_do_not_move_the_result(
    force: float, width_mm: float, start: list[float], end: list[float]
) -> None:
    mm = travel(101, 100.0)  # 1 mm steps; 0–19 mm and 91–100 mm are transients
    flat = [force] * 101
    shaped = list(flat)
    shaped[0:19] = start
    shaped[92:101] = end
    a = peel_result(mm, flat, width_mm)
    b = peel_result(mm, shaped, width_mm)
    assert b.peel_strength_n_per_cm == a.peel_strength_n_per_cm
    assert (b.sd_force_n, b.n_samples) == (a.sd_force_n, a.n_samples)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(forces, min_size=20, max_size=500), width_mm=widths)
def test_mean_lies_between_min_and_max_and_scales_with_width(
    values: list[float], width_mm: float
) -> None:
    mm = travel(len(values))
    r = peel_result(mm, values, width_mm, SteadyRegionRule(0.0, 0.0, min_points=1))
    assert r.min_force_n - 1e-9 <= r.mean_force_n <= r.max_force_n + 1e-9
    assert r.n_samples == len(values)
    double = peel_result(mm, values, width_mm * 2, SteadyRegionRule(0.0, 0.0, min_points=1))
    assert double.peel_strength_n_per_cm == pytest.approx(r.peel_strength_n_per_cm / 2)


@settings(max_examples=100, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.floats(0, 300, allow_nan=False), st.floats(-60, 60, allow_nan=False)),
        max_size=200,
    )
)
def test_packed_curve_round_trips_to_float32_precision(
    points: list[tuple[float, float]],
) -> None:
    mm = [p[0] for p in points]
    n = [p[1] for p in points]
    blob = pack_curve(mm, n)
    assert len(blob) == 8 * len(points)
    mm2, n2 = unpack_curve(blob)
    assert mm2 == pytest.approx(mm, rel=1e-6, abs=1e-6)
    assert n2 == pytest.approx(n, rel=1e-6, abs=1e-6)


def test_specimens_of_one_condition_give_mean_and_spread() -> None:
    rows = [("EX1-A", 0.0, 9.0), ("EX1-A", 0.0, 9.4), ("EX1-A", 0.0, 8.6),
            ("EX1-A", 1000.0, 7.0), ("EX2-B", 0.0, 10.0)]
    summary = summarize(rows)
    assert [(s.sample_id, s.aging_hours, s.n_specimens) for s in summary] == [
        ("EX1-A", 0.0, 3), ("EX1-A", 1000.0, 1), ("EX2-B", 0.0, 1)]
    assert summary[0].mean_n_per_cm == pytest.approx(9.0)
    assert summary[0].sd_n_per_cm == pytest.approx(0.4)
    assert summary[1].sd_n_per_cm == 0.0
