"""The driver parses exactly what the oven writes, and nothing it did not write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.aging_oven import AgingOven
from drivers.errors import ProtocolError
from simulators.oven import LogRow

driver = AgingOven("ASRL/dev/null::INSTR")

rows = st.builds(
    LogRow,
    ts=st.integers(min_value=0, max_value=4_000_000_000).map(float),
    pv_c=st.one_of(st.none(), st.floats(min_value=-50, max_value=400).map(lambda v: round(v, 2))),
    sp_c=st.floats(min_value=0, max_value=300).map(lambda v: round(v, 1)),
    door_open=st.booleans(),
    alarms=st.lists(st.sampled_from(["OVERTEMP", "SENSOR"]), unique=True).map(tuple),
)


@given(rows)
def test_every_row_the_oven_writes_parses_back_to_the_same_values(row: LogRow) -> None:
    parsed = driver._parse_row(row.line())
    assert (parsed.ts, parsed.pv_c, parsed.sp_c, parsed.door_open, parsed.alarms) == (
        row.ts, row.pv_c, row.sp_c, row.door_open, row.alarms)


@given(rows, st.integers(min_value=1, max_value=40), st.text(min_size=1, max_size=4))
def test_a_damaged_row_is_refused_or_still_means_a_row(row: LogRow, cut: int,
                                                       junk: str) -> None:
    line = row.line()
    cut = min(cut, len(line) - 1)
    damaged = line[:cut] + junk + line[cut:]
    try:
        parsed = driver._parse_row(damaged)
    except ProtocolError:
        return
    # What parses must still be a well-formed row: six fields, known alarm names.
    assert len(damaged.split(",")) == 6
    assert all(a.isalpha() and a.isupper() for a in parsed.alarms)


@pytest.mark.parametrize("line", [
    "L,1799,150.0,150.0,0",  # a field short
    "L,1799,150.0,150.0,2,-",  # door neither 0 nor 1
    "L,nan,150.0,150.0,0,-",  # no time
    "L,1799,inf,150.0,0,-",
    "X,1799,150.0,150.0,0,-",
    "L,1799,150.0,150.0,0,over temp",
])
def test_rows_that_do_not_parse_are_refused(line: str) -> None:
    with pytest.raises(ProtocolError):
        driver._parse_row(line)
