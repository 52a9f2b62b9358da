"""The notebook client against a real station (simulators, SQLite, embedded broker,
uvicorn): a press cycle's readings as a DataFrame equal the CSV export row for row, the
Parquet export opens in pandas with the same rows and typed columns, a peel curve comes
with its strength, the sync facade works where an event loop already runs, and what is
not on record is NotFound."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from daq.client import NotFound, Station, StoredReading, SyncStation
from tests.client.conftest import PEEL_SPECIMEN, LiveStation

DAQ = str(Path(sys.executable).with_name("daq"))
pytestmark = pytest.mark.slow


def api_csv(station: LiveStation, run_id: str) -> list[dict[str, str]]:
    """The run's CSV export as the HTTP API streams it, parsed by the csv module."""
    with station.http("viewer") as http:
        reply = http.get(f"/api/runs/{run_id}/readings", params={"format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(reply.text)))


def daq_cli(station: LiveStation, *args: str) -> subprocess.CompletedProcess[str]:
    """`daq ARGS…` as a viewer of the station would run it (through the station)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
    env.update({"DAQ_STATION_URL": station.url, "DAQ_TOKEN": station.tokens["viewer"]})
    return subprocess.run([DAQ, *args], capture_output=True, text=True, env=env, timeout=120)


def wide_rows(lines: list[dict[str, str]]) -> list[tuple[float, dict[str, float]]]:
    """The CSV lines grouped as the frame's rows are documented to be: consecutive lines
    of one timestamp, a repeated channel starting the next row."""
    rows: list[tuple[float, dict[str, float]]] = []
    for line in lines:
        ts, channel, value = float(line["ts"]), line["channel"], float(line["value"])
        if not rows or rows[-1][0] != ts or channel in rows[-1][1]:
            rows.append((ts, {}))
        rows[-1][1][channel] = value
    return rows


def epoch_s(stamp: pd.Timestamp) -> float:
    return (stamp - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


async def test_a_press_cycles_readings_frame_equals_its_csv_export_row_for_row(
    station: LiveStation,
) -> None:
    lines = api_csv(station, station.press_run)
    async with Station(station.url, station.tokens["viewer"]) as client:
        frame = await client.readings(station.press_run)
        detail = await client.run(station.press_run)

    expected = wide_rows(lines)
    assert len(lines) == sum(detail.channels.values()) > 100
    assert list(frame.columns) == ["temp_top", "temp_bottom", "pressure", "ram"]
    assert frame.attrs["units"] == {"temp_top": "degC", "temp_bottom": "degC",
                                    "pressure": "MPa", "ram": "mm"}
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "time"
    assert str(frame.index.tz) == "UTC" and frame.index.is_monotonic_increasing
    assert (frame.dtypes == "float64").all()
    assert len(frame) == len(expected)
    assert int(frame.notna().sum().sum()) == len(lines)  # every CSV line is one cell
    for (ts, cells), (stamp, row) in zip(expected, frame.iterrows(), strict=True):
        assert isinstance(stamp, pd.Timestamp)
        assert abs(epoch_s(stamp) - ts) < 1e-6
        assert {c: v for c, v in row.items() if not math.isnan(v)} == cells
    # The CSV's ISO time column says the same, cut to its millisecond.
    for line, stamp in zip(lines[:50], frame.index.repeat(4)[:50], strict=True):
        assert 0 <= (stamp - pd.Timestamp(line["time"])) / pd.Timedelta(milliseconds=1) < 1
    # What a lab expects of a default cycle (200 °C, 3 MPa): reached, not overshot far.
    assert 195.0 < frame["temp_top"].max() < 210.0
    assert 2.8 < frame["pressure"].max() < 3.3


def test_the_long_frame_and_the_cli_csv_export_are_the_same_rows(station: LiveStation) -> None:
    lines = api_csv(station, station.press_run)
    exported = daq_cli(station, "runs", "export", station.press_run, "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    assert list(csv.DictReader(io.StringIO(exported.stdout))) == lines
    with SyncStation(station.url, station.tokens["viewer"]) as client:
        table = client.readings(station.press_run, long=True)
    assert list(table.columns) == list(lines[0])
    assert len(table) == len(lines)
    for line, row in zip(lines, table.itertuples(index=False), strict=True):
        assert (row.ts, row.instrument, row.channel, row.value, row.unit, row.replayed) == (
            float(line["ts"]), line["instrument"], line["channel"], float(line["value"]),
            line["unit"], line["replayed"] == "true")
        assert row.time.isoformat(timespec="milliseconds") == line["time"]


EXPECTED_DTYPES = {"ts": "float64", "time": "datetime64[us, UTC]", "instrument": "str",
                   "channel": "str", "value": "float64", "unit": "str", "replayed": "bool"}


def test_the_parquet_export_opens_in_pandas_with_the_csv_rows_and_typed_columns(
    station: LiveStation, tmp_path: Path,
) -> None:
    lines = api_csv(station, station.press_run)
    via_station = tmp_path / "station.parquet"
    via_db = tmp_path / "db.parquet"
    done = daq_cli(station, "runs", "export", station.press_run, "--format", "parquet",
                   "-o", str(via_station))
    assert done.returncode == 0, done.stderr
    assert f"exported {len(lines)} readings of {station.press_run}" in done.stderr
    assert station.lab is not None
    database = station.lab.settings.database_url
    done = daq_cli(station, "runs", "export", station.press_run, "--format", "parquet",
                   "--out", str(via_db), "--url", database)
    assert done.returncode == 0, done.stderr

    for path in (via_station, via_db):
        frame = pd.read_parquet(path)
        assert {c: str(t) for c, t in frame.dtypes.items()} == EXPECTED_DTYPES
        assert len(frame) == len(lines)
        assert frame["ts"].tolist() == [float(line["ts"]) for line in lines]
        assert frame["value"].tolist() == [float(line["value"]) for line in lines]
        assert frame["channel"].tolist() == [line["channel"] for line in lines]
        assert frame["unit"].tolist() == [line["unit"] for line in lines]
        assert [t.isoformat(timespec="milliseconds") for t in frame["time"]] == [
            line["time"] for line in lines]
        assert not frame["replayed"].any()
        run = json.loads(pq.read_schema(path).metadata[b"lamina.run"])
        assert run["id"] == station.press_run and run["status"] == "DONE"
    with SyncStation(station.url, station.tokens["viewer"]) as client:
        table = client.readings(station.press_run, long=True)
    pd.testing.assert_frame_equal(pd.read_parquet(via_station), table)


def test_parquet_needs_a_file_to_write(station: LiveStation) -> None:
    done = daq_cli(station, "runs", "export", station.press_run, "--format", "parquet")
    assert done.returncode == 2
    assert "--format parquet writes a file" in done.stderr and "Traceback" not in done.stderr


async def test_the_sync_station_works_inside_a_running_event_loop(station: LiveStation) -> None:
    # As in Jupyter: the caller's thread runs an event loop, so asyncio.run would refuse.
    asyncio.get_running_loop()
    client = SyncStation(station.url, station.tokens["viewer"])
    try:
        listed = client.runs(kind="press_cycle")
        assert [r.id for r in listed.items] == [station.press_run]
        frame = client.readings(station.press_run)
        assert len(frame) > 20 and frame.attrs["run_id"] == station.press_run
        assert client.run(station.press_run).status == "DONE"
    finally:
        client.close()
    client.close()  # twice is fine


def client_threads() -> int:
    return sum(t.name == "daq-client" for t in threading.enumerate())


def test_a_sync_station_dropped_without_close_stops_its_thread(station: LiveStation) -> None:
    before = client_threads()
    client = SyncStation(station.url, station.tokens["viewer"])
    assert client.health().status in ("ok", "degraded")
    assert client_threads() == before + 1
    del client  # as a notebook cell run again drops the previous client
    gc.collect()
    assert client_threads() == before


async def test_iterating_readings_still_gives_typed_records(station: LiveStation) -> None:
    async with Station(station.url, station.tokens["viewer"]) as client:
        records = [r async for r in client.readings(station.press_run, page_size=97)]
        detail = await client.run(station.press_run)
    assert all(isinstance(r, StoredReading) for r in records)
    assert len(records) == sum(detail.channels.values())
    stamps = [r.ts for r in records]
    assert stamps == sorted(stamps)


def test_a_peel_curve_comes_with_the_strength_computed_from_it(station: LiveStation) -> None:
    with SyncStation(station.url, station.tokens["viewer"]) as client:
        curve = client.peel_curve(station.peel_run)
        test = client.peel_test(station.peel_run)
    assert list(curve.columns) == ["travel_mm", "force_n"] and curve.attrs["step"] == 1
    assert len(curve) == test.n_points > 5000  # 50 mm at 50 mm/min, 100 Hz
    assert curve.attrs["specimen_id"] == PEEL_SPECIMEN and curve.attrs["width_mm"] == 3.0
    assert curve["travel_mm"].is_monotonic_increasing
    assert 45.0 < curve["travel_mm"].iloc[-1] <= 50.5
    # JIS C 6481 by hand: the mean force over the steady region / the strip width in cm.
    steady = curve[curve["travel_mm"].between(curve.attrs["steady_start_mm"],
                                              curve.attrs["steady_end_mm"])]
    by_hand = steady["force_n"].mean() / 0.3
    assert curve.attrs["peel_strength_n_per_cm"] == pytest.approx(by_hand, abs=0.02)
    assert abs(by_hand - 9.0) < 1.0  # Table 1, Example 1 as made: 9 N/cm
    assert test.result is not None
    assert test.result.peel_strength_n_per_cm == curve.attrs["peel_strength_n_per_cm"]


async def test_what_is_not_on_record_is_not_found_both_ways(station: LiveStation) -> None:
    async with Station(station.url, station.tokens["viewer"]) as client:
        with pytest.raises(NotFound, match="press-000000000000"):
            await client.readings("press-000000000000")
        with pytest.raises(NotFound):
            await client.peel_curve("peel-000000000000")
        with pytest.raises(NotFound):
            await client.table1("no-such-campaign")
    client_sync = SyncStation(station.url, station.tokens["viewer"])
    try:
        with pytest.raises(NotFound, match="press-000000000000"):
            client_sync.readings("press-000000000000")
        with pytest.raises(NotFound):
            client_sync.aging_run("aging-000000000000")
        assert client_sync.run(station.press_run).id == station.press_run  # still usable
    finally:
        client_sync.close()
