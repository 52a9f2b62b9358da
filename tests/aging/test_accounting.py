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
