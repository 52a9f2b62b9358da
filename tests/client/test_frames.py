"""How readings become a wide DataFrame where runs are less tidy than a press cycle (two
readings of a channel at one time, two instruments naming a channel alike, a value that
was not finite, no readings at all), and that pandas stays optional: the station and the
CLI never import it, and a DataFrame call without it says what to install."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from daq.client import AgingRunRecord, StoredReading
from daq.client.frames import (
    ExportRow,
    excursions_frame,
    readings_frame,
    readings_table,
    with_units,
)
from daq.client.parquet import write_parquet

T0 = 1_796_000_000.25


def reading(ts: float, channel: str, value: float | None, instrument: str = "oven1",
            unit: str = "degC") -> StoredReading:
    return StoredReading(ts=ts, instrument=instrument, channel=channel, value=value,
                         unit=unit)


def test_a_channel_read_twice_at_one_time_starts_a_second_row_with_that_time() -> None:
    frame = readings_frame([reading(T0, "pv", 150.1), reading(T0, "sp", 150.0),
                            reading(T0, "pv", 150.2), reading(T0 + 60, "pv", 149.9)], "r")
    assert frame["pv"].tolist() == [150.1, 150.2, 149.9]
    assert frame["sp"].tolist()[0] == 150.0 and math.isnan(frame["sp"].tolist()[1])
    assert list(frame.index) == [pd.Timestamp(T0, unit="s", tz="UTC")] * 2 + [
        pd.Timestamp(T0 + 60, unit="s", tz="UTC")]
    assert int(frame.notna().sum().sum()) == 4  # every reading is one cell


def test_instruments_sharing_a_channel_name_get_a_column_each() -> None:
    frame = readings_frame([reading(T0, "temp", 25.0, "oven1"),
                            reading(T0, "temp", 80.0, "press1"),
                            reading(T0, "pressure", 3.0, "press1", "MPa")], "r")
    assert list(frame.columns) == ["oven1.temp", "press1.temp", "pressure"]
    assert frame.attrs["units"]["pressure"] == "MPa"
    assert frame.attrs["instruments"] == ["oven1", "press1"]
    assert list(with_units(frame).columns) == [
        "oven1.temp [degC]", "press1.temp [degC]", "pressure [MPa]"]


def test_a_value_that_was_not_finite_is_nan_in_both_forms() -> None:
    items = [reading(T0, "pv", None), reading(T0 + 1, "pv", 151.0)]
    wide = readings_frame(items, "r")
    long = readings_table(items, "r")
    assert math.isnan(wide["pv"].iloc[0]) and wide["pv"].iloc[1] == 151.0
    assert math.isnan(long["value"].iloc[0]) and long["ts"].tolist() == [T0, T0 + 1]


def test_a_run_without_readings_is_an_empty_frame_with_a_time_index() -> None:
    frame = readings_frame([], "r")
    assert frame.empty and isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "time"
    assert readings_table([], "r").columns.tolist() == [
        "ts", "time", "instrument", "channel", "value", "unit", "replayed"]


def test_an_open_excursion_has_no_end_and_no_hours_yet() -> None:
    record = AgingRunRecord.model_validate({
        "id": "aging-1", "oven": "oven1", "status": "RUNNING", "setpoint_c": 150.0,
        "tolerance_c": 3.0, "target_h": 1000.0, "started_ts": T0,
        "accounted_until_ts": T0 + 7200, "in_tolerance_s": 5400.0,
        "out_of_tolerance_s": 1800.0, "unmonitored_s": 0.0, "excursion_count": 2,
        "excursions": [
            {"id": 1, "start_ts": T0 + 600, "end_ts": T0 + 1500, "peak_deviation_c": 4.5,
             "peak_pv_c": 154.5},
            {"id": 2, "start_ts": T0 + 6300, "end_ts": None, "peak_deviation_c": -3.6,
             "peak_pv_c": 146.4}]})
    frame = excursions_frame(record)
    assert record.in_tolerance_h == 1.5 and record.out_of_tolerance_h == 0.5
    assert list(frame.index) == [1, 2]
    assert frame.loc[1, "hours"] == 0.25  # 900 s
    assert frame.loc[1, "end"] == pd.Timestamp(T0 + 1500, unit="s", tz="UTC")
    assert pd.isna(frame.loc[2, "end"]) and math.isnan(frame.loc[2, "hours"])
    assert frame["peak_pv_c"].tolist() == [154.5, 146.4]


async def rows(items: list[ExportRow]) -> AsyncIterator[ExportRow]:
    for item in items:
        yield item


async def test_a_parquet_file_of_a_run_without_readings_still_has_its_typed_columns(
    tmp_path: Path,
) -> None:
    out = tmp_path / "empty.parquet"
    assert await write_parquet(out, {"id": "press-1"}, rows([])) == 0
    frame = pd.read_parquet(out)
    assert frame.empty and str(frame["time"].dtype) == "datetime64[us, UTC]"
    assert str(frame["value"].dtype) == "float64" and str(frame["replayed"].dtype) == "bool"
    assert json.loads(pq.read_schema(out).metadata[b"lamina.run"]) == {"id": "press-1"}
    assert not (tmp_path / "empty.parquet.partial").exists()


async def test_a_non_finite_value_is_null_in_the_parquet_file(tmp_path: Path) -> None:
    out = tmp_path / "nan.parquet"
    written = await write_parquet(out, {"id": "r"}, rows([
        (T0, "press1", "pressure", math.nan, "MPa", False),
        (T0, "press1", "temp_top", 200.5, "degC", True)]))
    assert written == 2
    table = pq.read_table(out)
    assert table.column("value").to_pylist() == [None, 200.5]
    assert table.column("replayed").to_pylist() == [False, True]


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})


def test_the_station_and_the_cli_never_import_pandas() -> None:
    done = python("import sys\n"
                  "import daq.api, daq.cli, daq.client, daq.client.sync, daq.cli.runs\n"
                  "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


WITHOUT_EXTRA = "import sys\nsys.modules['pandas'] = sys.modules['pyarrow'] = None\n"


def test_without_the_extra_a_frame_call_says_what_to_install() -> None:
    done = python(WITHOUT_EXTRA + (
        "from daq.client import NotebookExtraMissing, StoredReading\n"
        "from daq.client.frames import readings_frame\n"
        "try:\n"
        "    readings_frame([], 'r')\n"
        "except NotebookExtraMissing as exc:\n"
        "    print(isinstance(exc, ImportError), exc)\n"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "True DataFrames and Parquet files need pandas: pip install 'lamina-daq[notebook]'")


def test_without_the_extra_a_parquet_export_is_refused_in_one_line() -> None:
    done = python(WITHOUT_EXTRA + (
        "sys.argv = ['daq', 'runs', 'export', 'last', '--format', 'parquet', '-o', 'x.pq']\n"
        "from daq.cli import main\n"
        "main()\n"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "need pyarrow: pip install 'lamina-daq[notebook]'" in done.stderr
    assert "Traceback" not in done.stderr
