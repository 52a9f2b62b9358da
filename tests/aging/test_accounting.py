"""Hour accounting and excursions: properties over any log the oven might give."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.aging.accounting import Accountant, AgingPlan

START = 1_800_000_000.0
MIN = 60.0


def rows_at(values: list[float | None], start: float = START, step: float = MIN
            ) -> list[tuple[float, float | None]]:
    return [(start + step * (i + 1), v) for i, v in enumerate(values)]


log_rows = st.lists(
    st.tuples(
        st.floats(min_value=-100.0, max_value=20_000.0),
        st.one_of(st.none(), st.floats(min_value=0.0, max_value=300.0)),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(rows=log_rows, target_h=st.floats(min_value=0.05, max_value=3.0))
def test_every_second_lands_in_exactly_one_bucket(
    rows: list[tuple[float, float | None]], target_h: float
) -> None:
    acc = Accountant(AgingPlan(target_h=target_h, pullouts_h=()), started_ts=START)
    acc.feed([(START + t, v) for t, v in rows])
    total = acc.in_tolerance_s + acc.out_of_tolerance_s + acc.unmonitored_s
    assert total == pytest.approx(acc.elapsed_s, abs=1e-6)
    assert acc.in_tolerance_s <= target_h * 3600 + 1e-6
    assert min(acc.in_tolerance_s, acc.out_of_tolerance_s, acc.unmonitored_s) >= 0


@settings(max_examples=100, deadline=None)
@given(rows=log_rows)
def test_feeding_in_pieces_gives_the_same_totals_as_all_at_once(
    rows: list[tuple[float, float | None]]
) -> None:
    plan = AgingPlan(target_h=10.0, pullouts_h=())
    whole = Accountant(plan, started_ts=START)
    whole.feed([(START + t, v) for t, v in rows])
    pieces = Accountant(plan, started_ts=START)
    for i in range(0, len(rows), 7):
        pieces.feed([(START + t, v) for t, v in rows[i:i + 7]])
    assert pieces.totals() == whole.totals()
    assert pieces.excursion_count == whole.excursion_count


def test_rows_missing_from_the_log_count_as_unmonitored_not_invented() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    acc.feed(rows_at([150.0] * 10))
    acc.feed([(START + 10 * MIN + 3600, 150.0)])  # an hour without rows
    assert acc.unmonitored_s == 3600.0
    assert acc.in_tolerance_s == 10 * MIN


def test_out_of_order_rows_are_rejected_and_the_interval_stays_a_gap() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    rows = rows_at([150.0] * 6)
    rows[3], rows[4] = rows[4], rows[3]
    out = acc.feed(rows)
    assert out.rows_out_of_order == 1
    assert acc.unmonitored_s == 0.0  # 2 min gap is inside max_gap_s (150 s)
    acc2 = Accountant(AgingPlan(max_gap_s=90.0), started_ts=START)
    acc2.feed(rows)
    assert acc2.unmonitored_s == 2 * MIN


def test_sensor_fault_rows_are_unmonitored() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    acc.feed(rows_at([150.0, None, None, 150.0]))
    assert acc.unmonitored_s == 2 * MIN and acc.in_tolerance_s == 2 * MIN


def test_one_excursion_despite_noise_at_the_band_edge_and_one_alarm() -> None:
    plan = AgingPlan(alarm_after_s=30 * MIN, merge_s=10 * MIN)
    acc = Accountant(plan, started_ts=START)
    values = [150.0] * 5 + [140.0] * 60 + [147.1, 146.9, 147.2, 146.95] + [150.0] * 20
    alarms = 0
    opened = closed = 0
    for row in rows_at(values):
        out = acc.feed([row])
        alarms += len(out.alarm_due)
        opened += len(out.opened)
        closed += len(out.closed)
    assert (opened, closed, alarms) == (1, 1, 1)
    assert acc.excursion is None and acc.excursion_count == 1
    assert acc.out_of_tolerance_s == 62 * MIN  # 60 + the two rows below 147


def test_excursion_start_end_and_peak() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    out_rows = rows_at([150.0] * 3 + [120.0, 60.0, 100.0] + [150.0] * 15)
    closed = []
    for row in out_rows:
        closed += acc.feed([row]).closed
    (exc,) = closed
    assert exc.start_ts == START + 3 * MIN
    assert exc.end_ts == START + 6 * MIN
    assert exc.peak_deviation_c == -90.0 and exc.peak_pv_c == 60.0


def test_run_completes_exactly_at_the_target_and_pullouts_fall_due_once() -> None:
    plan = AgingPlan(target_h=1.0, pullouts_h=(0.5, 1.0))
    acc = Accountant(plan, started_ts=START + 30)  # not on a row boundary
    due: list[float] = []
    for row in rows_at([150.0] * 70):
        due += acc.feed([row]).pullouts_due
    assert acc.completed and acc.completed_ts == START + 30 + 3600
    assert acc.in_tolerance_s == 3600.0 and acc.elapsed_s == 3600.0
    assert due == [0.5, 1.0]


def test_a_plan_outside_sense_is_refused() -> None:
    with pytest.raises(ValueError, match="pull-outs"):
        AgingPlan(target_h=100, pullouts_h=(250,))
    with pytest.raises(ValueError, match="tolerance"):
        AgingPlan(tolerance_c=0)


# Fixed numbers a lab works out by hand: the default plan holds 150 °C ± 3 °C, a log row
# a minute, gaps over 150 s, alarms after 30 min out, excursions merged within 10 min.

HOUR = 3600.0


def in_rows(n: int, after: float, pv: float = 150.0, step: float = MIN
            ) -> list[tuple[float, float | None]]:
    """``n`` rows of ``pv`` one ``step`` apart, the first one ``step`` after ``after``."""
    return [(after + step * (i + 1), pv) for i in range(n)]


def test_the_default_plan_is_150_c_plus_minus_3_c_for_1000_h_with_pullouts_at_250_500_1000(
) -> None:
    plan = AgingPlan()
    assert (plan.setpoint_c, plan.tolerance_c, plan.target_h) == (150.0, 3.0, 1000.0)
    assert plan.pullouts_h == (250.0, 500.0, 1000.0)
    assert (plan.max_gap_s, plan.alarm_after_s, plan.merge_s) == (150.0, 1800.0, 600.0)


@pytest.mark.parametrize(("pv", "inside"), [
    (147.0, True), (153.0, True), (150.0, True),
    (146.99, False), (153.01, False),
])
def test_a_reading_exactly_on_the_tolerance_edge_is_in_tolerance(pv: float, inside: bool
                                                                 ) -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    out = acc.feed(rows_at([pv]))
    assert acc.in_tolerance_s == (MIN if inside else 0.0)
    assert acc.out_of_tolerance_s == (0.0 if inside else MIN)
    assert len(out.opened) == (0 if inside else 1)


def test_the_band_is_around_the_plan_setpoint() -> None:
    acc = Accountant(AgingPlan(setpoint_c=200.0, tolerance_c=1.5), started_ts=START)
    acc.feed(rows_at([198.5, 201.5, 198.4, 201.6, 150.0]))
    assert acc.in_tolerance_s == 2 * MIN and acc.out_of_tolerance_s == 3 * MIN


def test_ten_hours_a_five_hour_hole_and_ten_hours_give_20_h_in_and_5_h_unmonitored() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(in_rows(600, START))
    acc.feed(in_rows(600, START + 15 * HOUR))  # first row 5 h 1 min after the last
    totals = acc.totals()
    # The interval up to the first row after the hole is part of the hole (5 h 1 min).
    assert totals["in_tolerance_h"] == pytest.approx(20.0 - 1 / 60)
    assert totals["unmonitored_h"] == pytest.approx(5.0 + 1 / 60)
    assert totals["out_of_tolerance_h"] == 0.0
    assert totals["elapsed_h"] == pytest.approx(25.0)
    assert acc.elapsed_s == 25 * HOUR and acc.in_tolerance_h == pytest.approx(20.0 - 1 / 60)


def test_a_gap_the_log_cannot_supply_is_unmonitored_never_in_tolerance() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(in_rows(600, START))  # 10 h in tolerance
    acc.account_gap_until(START + 15 * HOUR)  # 5 h the oven's log lost
    acc.feed(in_rows(600, START + 15 * HOUR))  # 10 h more
    assert acc.totals() == {"in_tolerance_h": 20.0, "out_of_tolerance_h": 0.0,
                            "unmonitored_h": 5.0, "elapsed_h": 25.0}
    acc.account_gap_until(START)  # before what is accounted: nothing changes
    assert acc.unmonitored_s == 5 * HOUR and acc.accounted_until_ts == START + 25 * HOUR


def test_in_plus_out_plus_unmonitored_is_elapsed_for_a_known_log() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    rows = rows_at([150.0] * 30 + [160.0] * 20 + [None] * 10 + [150.0] * 30)  # 90 min
    rows.append((START + 90 * MIN + 2 * HOUR, 150.0))  # a 2 h hole
    acc.feed(rows)
    assert acc.in_tolerance_s == 60 * MIN
    assert acc.out_of_tolerance_s == 20 * MIN
    assert acc.unmonitored_s == 10 * MIN + 2 * HOUR
    assert acc.elapsed_s == 90 * MIN + 2 * HOUR
    assert acc.totals()["out_of_tolerance_h"] == pytest.approx(1 / 3)
    assert acc.totals()["unmonitored_h"] == pytest.approx(13 / 6)


def test_an_interval_of_exactly_max_gap_is_monitored_and_a_longer_one_is_a_hole() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    acc.feed([(START + 150.0, 150.0)])
    assert (acc.in_tolerance_s, acc.unmonitored_s) == (150.0, 0.0)
    acc.feed([(START + 300.5, 150.0)])
    assert (acc.in_tolerance_s, acc.unmonitored_s) == (150.0, 150.5)
    assert acc.last_pv_c == 150.0  # the row after a hole still tells the temperature


def test_the_last_reading_is_kept_and_a_sensor_fault_clears_it() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    acc.feed(rows_at([151.5]))
    assert acc.last_pv_c == 151.5
    acc.feed([(START + 2 * MIN, None)])
    assert acc.last_pv_c is None
    acc.feed([(START + 3 * MIN, 170.0)])
    assert acc.last_pv_c == 170.0


def test_pullouts_fall_due_by_hours_in_tolerance_not_by_elapsed_hours() -> None:
    plan = AgingPlan(target_h=2.0, pullouts_h=(1.0, 2.0))
    acc = Accountant(plan, started_ts=START)
    # 30 min in, 20 min out at 160 °C, then in tolerance: 1 h in tolerance at 80 min.
    values = [150.0] * 30 + [160.0] * 20 + [150.0] * 120
    due_at: dict[float, float] = {}
    for row in rows_at(values):
        for p in acc.feed([row]).pullouts_due:
            due_at[p] = row[0] - START
    assert due_at == {1.0: 80 * MIN, 2.0: 140 * MIN}
    assert acc.completed_ts == START + 140 * MIN


def test_a_pullout_is_due_on_the_row_that_reaches_its_hours_exactly() -> None:
    acc = Accountant(AgingPlan(target_h=1.0, pullouts_h=(0.25, 1.0)), started_ts=START)
    assert acc.next_pullout_h() == 0.25
    assert acc.feed(rows_at([150.0] * 14)).pullouts_due == []
    assert acc.feed([(START + 15 * MIN, 150.0)]).pullouts_due == [0.25]  # 900 s in
    assert acc.next_pullout_h() == 1.0
    assert acc.feed([(START + 16 * MIN, 150.0)]).pullouts_due == []


def test_pullouts_are_announced_in_hour_order_whatever_order_the_plan_lists() -> None:
    acc = Accountant(AgingPlan(target_h=1.0, pullouts_h=(1.0, 0.25, 0.5)), started_ts=START)
    assert acc.next_pullout_h() == 0.25
    out = acc.feed(rows_at([150.0] * 60))
    assert out.pullouts_due == [0.25, 0.5, 1.0]
    assert acc.pullouts_announced == [0.25, 0.5, 1.0]
    assert acc.next_pullout_h() is None


def test_250_4_h_and_250_h_are_two_pullouts() -> None:
    # Rows every 6 min (0.1 h) with a gap limit above that.
    plan = AgingPlan(target_h=251.0, pullouts_h=(250.0, 250.4, 251.0), max_gap_s=400.0)
    assert AgingPlan.from_json(plan.to_json()) == plan
    acc = Accountant(plan, started_ts=START)
    step = 360.0
    assert acc.feed(in_rows(2499, START, step=step)).pullouts_due == []  # 249.9 h
    assert acc.feed([(START + 2500 * step, 150.0)]).pullouts_due == [250.0]
    assert acc.next_pullout_h() == 250.4
    assert acc.feed(in_rows(3, START + 2500 * step, step=step)).pullouts_due == []  # 250.3
    assert acc.feed([(START + 2504 * step, 150.0)]).pullouts_due == [250.4]
    assert acc.in_tolerance_h == pytest.approx(250.4)
    assert acc.next_pullout_h() == 251.0


def test_the_run_completes_on_the_row_that_brings_in_tolerance_exactly_to_the_target(
) -> None:
    acc = Accountant(AgingPlan(target_h=1.0, pullouts_h=()), started_ts=START)
    acc.feed(rows_at([150.0] * 59))
    assert not acc.completed
    out = acc.feed([(START + 60 * MIN, 150.0)])
    assert out.completed and acc.completed and acc.completed_ts == START + HOUR
    assert out.significant
    late = acc.feed([(START + 61 * MIN, 150.0), (START + 62 * MIN, 140.0)])
    assert late.rows_used == 0 and not late.completed and late.opened == []
    assert acc.in_tolerance_s == HOUR and acc.out_of_tolerance_s == 0.0
    acc.account_gap_until(START + 2 * HOUR)  # after completion nothing more is counted
    assert acc.unmonitored_s == 0.0 and acc.elapsed_s == HOUR


def test_the_completing_row_is_split_at_the_target() -> None:
    acc = Accountant(AgingPlan(target_h=0.5, pullouts_h=(0.5,), max_gap_s=150.0),
                     started_ts=START)
    acc.feed(rows_at([150.0] * 29))  # 29 min
    out = acc.feed([(START + 29 * MIN + 100.0, 150.0)])  # 100 s row, 60 s needed
    assert out.completed and out.pullouts_due == [0.5]
    assert acc.completed_ts == START + 30 * MIN and acc.elapsed_s == 30 * MIN


def test_an_excursion_still_open_at_completion_is_closed_at_its_last_out_row() -> None:
    acc = Accountant(AgingPlan(target_h=1.0, pullouts_h=()), started_ts=START)
    acc.feed(rows_at([150.0] * 55 + [160.0] * 5))  # 55 min in, then out from 55 to 60 min
    assert acc.excursion is not None
    # 5 more minutes in tolerance complete the hour, back only 5 min (< merge 10 min).
    out = acc.feed(in_rows(20, START + 60 * MIN))
    assert out.completed
    (exc,) = out.closed
    assert acc.excursion is None
    assert exc.start_ts == START + 55 * MIN and exc.end_ts == START + 60 * MIN
    assert exc.duration_s == 5 * MIN
    assert acc.completed_ts == START + 65 * MIN


def test_an_excursion_closes_after_exactly_merge_s_back_in_tolerance() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(rows_at([150.0] * 3 + [160.0] * 2))  # last out row at 5 min
    assert acc.feed(in_rows(9, START + 5 * MIN)).closed == []  # back 9 min
    assert acc.excursion is not None and acc.excursion.end_ts is None
    assert acc.excursion.duration_s == 2 * MIN  # open: to its last out row
    (exc,) = acc.feed([(START + 15 * MIN, 150.0)]).closed  # back exactly 10 min
    assert exc.end_ts == START + 5 * MIN


def test_back_out_within_merge_s_continues_the_same_excursion() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    out = acc.feed(rows_at([150.0, 160.0, 150.0, 150.0, 145.0, 150.0]))
    assert len(out.opened) == 1 and acc.excursion_count == 1
    assert acc.excursion is not None and acc.excursion.last_out_ts == START + 5 * MIN


def test_alarm_when_an_excursion_has_lasted_exactly_alarm_after_s() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(rows_at([150.0]))
    # The excursion starts at 1 min (the interval of its first row); 29 rows out: 29 min.
    assert acc.feed(in_rows(29, START + MIN, pv=140.0)).alarm_due == []
    out = acc.feed([(START + 31 * MIN, 140.0)])  # 30 min out
    (exc,) = out.alarm_due
    assert exc.alarm_raised and exc.duration_s == 30 * MIN and out.significant
    assert acc.feed([(START + 32 * MIN, 140.0)]).alarm_due == []


def test_peak_deviation_keeps_its_sign_and_the_reading() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(rows_at([150.0, 155.0, 158.5, 141.0, 157.0]))
    exc = acc.excursion
    assert exc is not None
    assert exc.peak_deviation_c == -9.0 and exc.peak_pv_c == 141.0
    acc2 = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc2.feed(rows_at([150.0, 145.0, 158.5, 156.0]))
    assert acc2.excursion is not None
    assert acc2.excursion.peak_deviation_c == 8.5 and acc2.excursion.peak_pv_c == 158.5


def test_a_later_deviation_as_large_as_the_peak_does_not_replace_it() -> None:
    acc = Accountant(AgingPlan(pullouts_h=()), started_ts=START)
    acc.feed(rows_at([145.0, 155.0]))
    assert acc.excursion is not None
    assert (acc.excursion.peak_deviation_c, acc.excursion.peak_pv_c) == (-5.0, 145.0)


def test_rows_before_the_run_are_ignored_and_a_repeated_row_is_out_of_order() -> None:
    acc = Accountant(AgingPlan(), started_ts=START)
    out = acc.feed([(START - MIN, 150.0), (START, 150.0), (START + MIN, 150.0),
                    (START + MIN, 150.0), (START + 2 * MIN, 150.0)])
    assert (out.rows_used, out.rows_out_of_order) == (2, 1)
    assert acc.rows_out_of_order == 1
    assert acc.in_tolerance_s == 2 * MIN


def test_a_checkpointed_accountant_resumes_where_it_was() -> None:
    fresh = Accountant(AgingPlan(), started_ts=START, accounted_until_ts=START - 10)
    assert fresh.accounted_until_ts == START and fresh.elapsed_s == 0.0
    resumed = Accountant(AgingPlan(), started_ts=START, accounted_until_ts=START + HOUR,
                         in_tolerance_s=HOUR)
    assert resumed.accounted_until_ts == START + HOUR
    resumed.feed([(START + HOUR + MIN, 150.0)])
    assert resumed.in_tolerance_s == HOUR + MIN and resumed.elapsed_s == HOUR + MIN


def test_an_outcome_is_significant_only_when_something_must_be_persisted() -> None:
    from daq.aging.accounting import Excursion, Outcome

    exc = Excursion(START, START + MIN, 10.0, 160.0)
    assert not Outcome(rows_used=5, rows_out_of_order=2).significant
    assert Outcome(opened=[exc]).significant
    assert Outcome(closed=[exc]).significant
    assert Outcome(alarm_due=[exc]).significant
    assert Outcome(pullouts_due=[250.0]).significant
    assert Outcome(completed=True).significant
    assert exc.duration_s == MIN
    exc.end_ts = START + 3 * MIN
    assert exc.duration_s == 3 * MIN


def test_a_plan_survives_its_json_form_and_ignores_unknown_fields() -> None:
    plan = AgingPlan(setpoint_c=175.0, tolerance_c=2.0, target_h=500.0,
                     pullouts_h=(100.0, 500.0), max_gap_s=120.0, alarm_after_s=600.0,
                     merge_s=0.0)
    data = plan.to_json()
    assert data == {"setpoint_c": 175.0, "tolerance_c": 2.0, "target_h": 500.0,
                    "pullouts_h": [100.0, 500.0], "max_gap_s": 120.0,
                    "alarm_after_s": 600.0, "merge_s": 0.0}
    assert AgingPlan.from_json({**data, "operator": "kim"}) == plan
    again = AgingPlan.from_json({"target_h": 500, "pullouts_h": [100, 500]})
    assert again.pullouts_h == (100.0, 500.0) and again.setpoint_c == 150.0
    assert AgingPlan.from_json({}) == AgingPlan()


@pytest.mark.parametrize("kwargs", [
    {"tolerance_c": 50.0}, {"tolerance_c": 0.01},
    {"target_h": 100_000.0}, {"target_h": 0.01, "pullouts_h": (0.01,)},
    {"target_h": 100.0, "pullouts_h": (100.0,)},
    {"merge_s": 0.0}, {"max_gap_s": 0.01}, {"alarm_after_s": 0.01},
    {"pullouts_h": ()},
])
def test_a_plan_on_the_edge_of_sense_is_accepted(kwargs: dict[str, object]) -> None:
    AgingPlan(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tolerance_c": 50.01}, "tolerance 50.01 °C must be in"),
    ({"tolerance_c": -1.0}, "tolerance"),
    ({"target_h": 100_000.5}, "target 100000.5 h must be in"),
    ({"target_h": 0.0, "pullouts_h": ()}, "target"),
    ({"target_h": 100.0, "pullouts_h": (0.0,)}, r"pull-outs \[0.0\] h must lie in \(0, 100\]"),
    ({"target_h": 100.0, "pullouts_h": (50.0, 100.5)}, "pull-outs"),
    ({"max_gap_s": 0.0}, "max_gap_s and alarm_after_s must be > 0"),
    ({"alarm_after_s": 0.0}, "alarm_after_s"),
    ({"merge_s": -1.0}, "merge_s"),
])
def test_a_plan_outside_sense_is_refused_saying_which_field(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AgingPlan(**kwargs)  # type: ignore[arg-type]


def test_a_running_plan_cannot_be_altered() -> None:
    import dataclasses

    plan = AgingPlan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.target_h = 500.0  # type: ignore[misc]


def test_a_run_started_at_clock_zero_accounts_from_zero() -> None:
    acc = Accountant(AgingPlan(), started_ts=0.0)
    assert acc.accounted_until_ts == 0.0
    acc.feed([(60.0, 150.0)])
    assert acc.in_tolerance_s == 60.0 and acc.elapsed_s == 60.0


def test_a_pullout_allows_one_microsecond_for_rounding_and_no_more() -> None:
    # Hours × 3600 and sums of float seconds can land a hair short of the planned time;
    # 1 µs short still counts as reached, 2 µs short does not.
    plan = AgingPlan(target_h=1.0, pullouts_h=(0.25, 1.0), max_gap_s=1000.0)
    on_edge = Accountant(plan, started_ts=0.0)
    assert on_edge.feed([(899.999999, 150.0)]).pullouts_due == [0.25]
    short = Accountant(plan, started_ts=0.0)
    assert short.feed([(899.999998, 150.0)]).pullouts_due == []
    assert short.feed([(900.0, 150.0)]).pullouts_due == [0.25]
