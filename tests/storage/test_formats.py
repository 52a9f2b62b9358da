"""Properties of what storage writes out: JSON bodies and reading exports."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from daq.storage.outbox import dumps, jsonable
from daq.storage.queries import EXPORT_COLUMNS, csv_lines

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


def _finite_equal(original: Any, cleaned: Any) -> bool:
    if isinstance(original, float):
        return cleaned is None if not math.isfinite(original) else cleaned == original
    if isinstance(original, dict):
        return all(_finite_equal(v, cleaned[str(k)]) for k, v in original.items()
                   if str(k) in cleaned)
    if isinstance(original, list | tuple):
        return len(original) == len(cleaned) and all(
            _finite_equal(a, b) for a, b in zip(original, cleaned, strict=True))
    return bool(original == cleaned)


@given(json_like)
def test_any_event_data_becomes_strict_json_keeping_finite_values(data: Any) -> None:
    text = dumps({"data": data})  # allow_nan=False inside: raises on NaN/inf
    assert json.loads(text)["data"] == jsonable(data)
    assert _finite_equal(data, jsonable(data))


readings = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=4e9, allow_nan=False),
        st.text(min_size=1, max_size=12),
        st.text(min_size=1, max_size=12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        st.booleans(),
    ),
    max_size=30,
)


@given(readings)
def test_csv_export_reads_back_exactly(
    rows: list[tuple[float, str, str, float, str, bool]],
) -> None:
    text = "".join(csv_lines(rows))
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(parsed[0]) == EXPORT_COLUMNS
    assert len(parsed) == len(rows) + 1
    for (ts, instrument, channel, value, unit, replayed), line in zip(rows, parsed[1:],
                                                                       strict=True):
        assert float(line[0]) == ts and float(line[4]) == value  # repr round-trips floats
        assert (line[2], line[3], line[5]) == (instrument, channel, unit)
        assert line[6] == ("true" if replayed else "false")
