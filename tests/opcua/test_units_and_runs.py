"""Engineering units and the Run object's view, against numbers worked out by hand."""

from __future__ import annotations

import pytest

from daq.messages import Reading, RunEvent, Value
from daq.opcua.runs import RunTracker
from daq.opcua.server import OpcUaError, check_url
from daq.opcua.units import eu_information


@pytest.mark.parametrize(("unit", "unit_id", "shown"), [
    # UNECE Rec. 20 codes packed one byte a character, as in the OPC UA units table:
    # CEL = 0x43 0x45 0x4C = 67*65536 + 69*256 + 76.
    ("degC", 4408652, "°C"),
    ("MPa", 5066817, "MPa"),   # MPA
    ("N", 5129559, "N"),       # NEW
    ("mm", 5066068, "mm"),     # MMT
    ("W", 5723220, "W"),       # WTT
])
def test_station_units_are_unece_engineering_units(unit: str, unit_id: int, shown: str) -> None:
    eu = eu_information(unit)
    assert eu is not None
    assert eu.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"
    assert (eu.UnitId, eu.DisplayName.Text) == (unit_id, shown)


def test_a_flag_has_no_unit_and_an_unknown_unit_keeps_its_text() -> None:
    assert eu_information("bool") is None
    eu = eu_information("furlong")
    assert eu is not None and eu.UnitId == -1 and eu.DisplayName.Text == "furlong"


def started(run_id: str, kind: str = "press_cycle", dwell_min: float = 20.0) -> RunEvent:
    return RunEvent(run_id, 10.0, "note", {"event": "started", "run_kind": kind,
                                           "instrument": "press1",
                                           "recipe": {"dwell_min": dwell_min}})


def press_reading(run_id: str, ts: float) -> Reading:
    return Reading("press1", ts, {"temp_top": Value(180.0, "degC")}, run_id)


def test_a_press_cycle_goes_running_through_its_phases_to_done() -> None:
    runs = RunTracker()
    assert runs.apply(started("r1", dwell_min=20.0))
    assert (runs.view.kind, runs.view.state, runs.view.progress) == ("press_cycle", "RUNNING", 0)
    runs.apply(RunEvent("r1", 100.0, "transition", {"from": "PRESS", "to": "DWELL"}))
    assert (runs.view.phase, runs.view.progress) == ("DWELL", 0)
    # 5 of the recipe's 20 minutes of dwell served (300 s after DWELL): a quarter.
    assert runs.apply_reading(press_reading("r1", 400.0))
    assert runs.view.progress == 0.25
    # Paused at 6 min served; readings while paused do not count on.
    runs.apply(RunEvent("r1", 460.0, "note", {"note": "dwell_paused", "dwell_min": 6.0}))
    assert not runs.apply_reading(press_reading("r1", 700.0))
    assert runs.view.progress == 0.3
    # Resumed at 760 s: 6 min + 240 s = 10 min of 20.
    runs.apply(RunEvent("r1", 760.0, "note", {"note": "dwell_resumed", "dwell_min": 6.0}))
    runs.apply_reading(press_reading("r1", 1000.0))
    assert runs.view.progress == 0.5
    assert not runs.apply_reading(press_reading("another-run", 1300.0))
    runs.apply(RunEvent("r1", 13.0, "transition", {"to": "DONE"}))
    runs.apply(RunEvent("r1", 14.0, "result", {"status": "DONE", "summary": {}}))
    assert (runs.view.state, runs.view.phase, runs.view.progress) == ("DONE", "DONE", 1.0)


def test_an_aborted_run_keeps_its_progress_and_an_older_runs_events_are_ignored() -> None:
    runs = RunTracker()
    runs.apply(started("old", kind="aging_run"))
    runs.apply(started("r2", kind="laser_job"))
    runs.apply(RunEvent("r2", 11.0, "progress", {"holes_done": 3, "n_holes": 10,
                                                 "fraction": 0.3}))
    assert not runs.apply(RunEvent("old", 12.0, "transition", {"to": "SOAK"}))
    runs.apply(RunEvent("r2", 13.0, "result", {"status": "ABORTED", "reason": "stop"}))
    assert (runs.view.run_id, runs.view.state, runs.view.progress) == ("r2", "ABORTED", 0.3)


def test_a_campaign_counts_its_steps() -> None:
    runs = RunTracker()
    runs.apply(started("c1", kind="campaign"))
    runs.apply(RunEvent("c1", 11.0, "progress", {"steps": 12, "steps_done": 3}))
    assert runs.view.progress == 0.25


@pytest.mark.parametrize("url", ["http://0.0.0.0:4840", "opc.tcp://", "opc.tcp://h:port"])
def test_a_bad_url_is_refused_in_plain_words(url: str) -> None:
    with pytest.raises(OpcUaError, match=r"opc\.tcp://host:port|bad port"):
        check_url(url)
