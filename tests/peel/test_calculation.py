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


# -- numbers worked out by hand --------------------------------------------------------


def steady_forces(steady: list[float], lead: float = 2.0, tail: float = 2.0) -> tuple[
    list[float], list[float]
]:
    """A 0…100 mm curve in 1 mm steps: ``lead`` before 20 mm, ``steady`` repeated over
    20…90 mm (71 points), ``tail`` after 90 mm."""
    mm = [float(x) for x in range(101)]
    force = [lead if x < 20 else tail if x > 90 else steady[(x - 20) % len(steady)]
             for x in range(101)]
    return mm, force


def test_force_sd_is_the_sample_sd_with_n_minus_1() -> None:
    # Steady forces 1, 2, 3 N: mean 2, squared deviations 1 + 0 + 1 = 2, 2 / (3 − 1) = 1.
    mm = [0.0, 1.0, 2.0]
    r = peel_result(mm, [1.0, 2.0, 3.0], width_mm=3.0, rule=SteadyRegionRule(0.0, 0.0, 1))
    assert r.mean_force_n == pytest.approx(2.0)
    assert r.sd_force_n == pytest.approx(1.0)
    # On a 3 mm strip: 1 N / 0.3 cm.
    assert r.sd_n_per_cm == pytest.approx(10.0 / 3.0)
    assert r.peel_strength_n_per_cm == pytest.approx(20.0 / 3.0)


def test_two_steady_points_have_an_sd() -> None:
    # 1 and 3 N: squared deviations 1 + 1 = 2, / (2 − 1): SD √2.
    r = peel_result([0.0, 1.0], [1.0, 3.0], width_mm=10.0, rule=SteadyRegionRule(0.0, 0.0, 1))
    assert r.sd_force_n == pytest.approx(math.sqrt(2.0))


def test_a_single_steady_point_has_zero_sd() -> None:
    r = peel_result([0.0], [2.7], width_mm=3.0, rule=SteadyRegionRule(0.0, 0.0, 1))
    assert (r.n_samples, r.sd_force_n, r.sd_n_per_cm) == (1, 0.0, 0.0)
    assert r.peel_strength_n_per_cm == pytest.approx(9.0)


def test_min_and_max_force_come_from_the_steady_region_only() -> None:
    # A 0.1 N dip in the start transient and a 25 N spike in the end transient: neither is
    # the minimum or maximum; the steady region alternates 2.6 / 2.8 N.
    mm, force = steady_forces([2.6, 2.8])
    force[5] = 0.1
    force[95] = 25.0
    r = peel_result(mm, force, width_mm=3.0)
    assert (r.min_force_n, r.max_force_n) == (2.6, 2.8)
    assert r.n_samples == 71
    assert r.n_points == 101
    # 36 × 2.6 + 35 × 2.8 = 191.6 N over 71 points: 2.6986 N, / 0.3 cm = 8.995 N/cm.
    assert r.mean_force_n == pytest.approx(191.6 / 71)
    assert r.peel_strength_n_per_cm == pytest.approx(191.6 / 71 / 0.3)


def test_points_exactly_on_the_steady_region_edges_count() -> None:
    # 0…50 mm in 1 mm steps: the region is 10…45 mm inclusive, 36 points; the points at
    # 10 and 45 mm read 5 N, every other steady point 2 N, the transients 0 N.
    mm = [float(x) for x in range(51)]
    force = [5.0 if x in (10, 45) else 2.0 if 10 < x < 45 else 0.0 for x in range(51)]
    r = peel_result(mm, force, width_mm=3.0)
    assert (r.steady_start_mm, r.steady_end_mm) == pytest.approx((10.0, 45.0))
    assert r.n_samples == 36
    assert r.max_force_n == 5.0
    assert r.min_force_n == 2.0
    assert r.mean_force_n == pytest.approx((2 * 5.0 + 34 * 2.0) / 36)


def test_the_steady_region_follows_the_travel_wherever_it_starts() -> None:
    # 30…80 mm (travel 50): 30 + 10 = 40 to 80 − 5 = 75 mm; points may come in any order.
    assert steady_region([80.0, 30.0, 55.0]) == pytest.approx((40.0, 75.0))


def test_exactly_ten_steady_points_are_enough_and_nine_are_too_short() -> None:
    # 0…14 mm in 1 mm steps: region 2.8…12.6 mm holds 3…12 mm, 10 points.
    ok = peel_result([float(x) for x in range(15)], [2.7] * 15, width_mm=3.0)
    assert ok.n_samples == 10
    # 0…13 mm: region 2.6…11.7 mm holds 3…11 mm, 9 points.
    with pytest.raises(PeelCalculationError, match=r"only 9 points .*\(at least 10 needed\)"):
        peel_result([float(x) for x in range(14)], [2.7] * 14, width_mm=3.0)


def test_a_single_reading_is_a_too_short_peel_not_an_empty_one() -> None:
    with pytest.raises(PeelCalculationError, match="peel too short"):
        peel_result([12.0], [2.7], 3.0)


def test_positions_and_forces_must_pair_up() -> None:
    with pytest.raises(PeelCalculationError, match="3 positions but 2 forces"):
        peel_result([0.0, 1.0, 2.0], [1.0, 1.0], 3.0)


@pytest.mark.parametrize("width", [math.inf, -math.inf])
def test_an_infinite_width_is_refused(width: float) -> None:
    with pytest.raises(PeelCalculationError, match="width"):
        peel_result(travel(100), [1.0] * 100, width)


def test_a_half_millimetre_strip_is_a_valid_width() -> None:
    # 0.27 N on 0.5 mm = 0.05 cm: 5.4 N/cm.
    r = peel_result(travel(100), [0.27] * 100, width_mm=0.5)
    assert r.peel_strength_n_per_cm == pytest.approx(5.4)
    assert r.width_mm == 0.5


def test_default_rule_and_result_as_stored() -> None:
    assert SteadyRegionRule().as_dict() == {
        "start_fraction": 0.2, "end_fraction": 0.1, "min_points": 10}
    r = peel_result(travel(1000), [2.7] * 1000, width_mm=3.0)
    stored = r.as_dict()
    assert stored["peel_strength_n_per_cm"] == pytest.approx(9.0)
    assert (stored["garbled_lines"], stored["width_mm"], stored["n_points"]) == (0, 3.0, 1000)
    assert peel_result(travel(1000), [2.7] * 1000, 3.0, garbled_lines=3).garbled_lines == 3


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [(-0.1, 0.1, "must be in"), (0.1, -0.1, "must be in"), (1.0, 0.0, "must be in"),
     (0.0, 1.0, "must be in"), (0.5, 0.5, "exclude the whole travel"),
     (0.7, 0.3, "exclude the whole travel")],
)
def test_rules_outside_0_to_1_or_excluding_everything_are_refused(
    start: float, end: float, words: str
) -> None:
    with pytest.raises(PeelCalculationError, match=words):
        SteadyRegionRule(start, end)


def test_rules_at_the_edges_of_what_is_allowed() -> None:
    assert SteadyRegionRule(0.0, 0.0).bounds_mm(0.0, 50.0) == (0.0, 50.0)
    assert SteadyRegionRule(0.49, 0.5).bounds_mm(0.0, 100.0) == pytest.approx((49.0, 50.0))
    assert SteadyRegionRule(0.9, 0.0).bounds_mm(0.0, 10.0) == pytest.approx((9.0, 10.0))
    assert SteadyRegionRule(0.0, 0.9).bounds_mm(0.0, 10.0) == pytest.approx((0.0, 1.0))
    assert SteadyRegionRule(min_points=1).min_points == 1
    with pytest.raises(PeelCalculationError, match="min_points"):
        SteadyRegionRule(min_points=0)


def test_a_rule_and_a_verdict_cannot_be_edited_after_the_fact() -> None:
    import dataclasses

    # The default rule is one object shared by every call: it must not be changeable.
    with pytest.raises(dataclasses.FrozenInstanceError):
        SteadyRegionRule().start_fraction = 0.0  # type: ignore[misc]
    r = peel_result(travel(100), [2.7] * 100, 3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.peel_strength_n_per_cm = 12.0  # type: ignore[misc]
    summary = summarize([("EX1-A", 0.0, 9.0)])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.mean_n_per_cm = 12.0  # type: ignore[misc]


def test_two_specimens_give_the_sample_sd() -> None:
    # 9 and 10 N/cm: squared deviations 0.25 + 0.25, / (2 − 1): SD √0.5 = 0.7071 N/cm.
    (s,) = summarize([("EX2-B", 0.0, 9.0), ("EX2-B", 0.0, 10.0)])
    assert (s.n_specimens, s.mean_n_per_cm) == (2, pytest.approx(9.5))
    assert s.sd_n_per_cm == pytest.approx(math.sqrt(0.5))


def test_aging_conditions_differ_by_tenths_of_hours_not_by_seconds() -> None:
    # 250.4 h is its own condition; 250 h and 250.0004 h (1.4 s later) are the same one.
    rows = [("EX1-A", 250.4, 8.0), ("EX1-A", 250.0, 9.0), ("EX1-A", 250.0004, 9.4)]
    summary = summarize(rows)
    assert [(s.aging_hours, s.n_specimens) for s in summary] == [(250.0, 2), (250.4, 1)]
    assert summary[0].mean_n_per_cm == pytest.approx(9.2)


def test_conditions_are_listed_by_sample_then_aging_hours_whatever_the_order_in() -> None:
    rows = [("EX2-B", 1000.0, 6.0), ("EX1-A", 1000.0, 7.0), ("EX2-B", 0.0, 10.0),
            ("EX1-A", 0.0, 9.0), (None, 0.0, 1.0)]
    assert [(s.sample_id, s.aging_hours) for s in summarize(rows)] == [
        (None, 0.0), ("EX1-A", 0.0), ("EX1-A", 1000.0), ("EX2-B", 0.0), ("EX2-B", 1000.0)]
