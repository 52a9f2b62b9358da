"""Small builders shared by the storage tests."""

from __future__ import annotations

from daq.messages import Reading, Value


def press_reading(ts: float, run_id: str | None, temp_c: float = 199.8) -> Reading:
    """A three-channel press poll."""
    return Reading(
        "press1",
        ts,
        {
            "temp_top": Value(temp_c, "degC"),
            "temp_bottom": Value(temp_c - 0.4, "degC"),
            "pressure": Value(3.0, "MPa"),
        },
        run_id=run_id,
    )
