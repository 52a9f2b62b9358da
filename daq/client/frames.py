"""pandas DataFrames of what a station answers (the ``notebook`` extra: pandas, pyarrow).

The shapes, which docs/notebook.md describes for the people who read them:

- **A run's readings, wide** (:func:`readings_frame`): a ``DatetimeIndex`` named ``time``
  (UTC), one ``float64`` column per channel (``temp_top``, ``pressure`` …; named
  ``instrument.channel`` only where two instruments of the run share a channel name),
  units in ``df.attrs["units"]`` (``{"temp_top": "degC", …}``). The CSV export is long
  (one line per reading, oldest first); its lines map onto the frame row for row: the
  consecutive lines of one timestamp make one row, each line one cell (a line whose
  channel already has a cell in that row starts the next row with the same time).
- **A run's readings, long** (:func:`readings_table`): exactly the CSV export's columns
  (``ts``, ``time``, ``instrument``, ``channel``, ``value``, ``unit``, ``replayed``) and
  rows, typed by :data:`READINGS_SCHEMA`, the schema of the Parquet export too.

pandas and pyarrow are imported only when a frame is asked for, so the station and the
CLI never need them; without them the call fails with :class:`NotebookExtraMissing`,
which says what to install.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from daq.client.models import (
    AgingRunRecord,
    PeelCurve,
    PeelTestRecord,
    StoredReading,
    Table1Record,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

INSTALL_HINT = "pip install 'lamina-daq[notebook]'"
#: The CSV export's columns, in its order (the long frame's and the Parquet file's too).
EXPORT_COLUMNS = ("ts", "time", "instrument", "channel", "value", "unit", "replayed")
#: One reading as exported: ts, instrument, channel, value (NaN where not finite), unit,
#: replayed.
ExportRow = tuple[float, str, str, float, str, bool]


class NotebookExtraMissing(ImportError):
    """pandas or pyarrow is not installed (they come with the ``notebook`` extra)."""

    def __init__(self, module: str) -> None:
        super().__init__(f"DataFrames and Parquet files need {module}: {INSTALL_HINT}",
                         name=module)


def need(module: str) -> None:
    """Import ``module`` (``pandas``, ``pyarrow``) or fail with what to install; the
    caller then imports it by name, typed."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise NotebookExtraMissing(module) from None


def micros(ts: float) -> int:
    """Epoch seconds as whole microseconds (the export's time resolution; simulated epoch
    floats resolve about 0.24 µs, so nothing a clock measured is rounded away)."""
    return round(ts * 1_000_000)


def readings_schema() -> pa.Schema:
    """The typed schema of a run's readings in long form (Parquet export, long frame)."""
    need("pyarrow")
    import pyarrow as pa_

    fields: list[pa.Field[Any]] = [
        pa_.field("ts", pa_.float64(), nullable=False),
        pa_.field("time", pa_.timestamp("us", tz="UTC"), nullable=False),
        pa_.field("instrument", pa_.string(), nullable=False),
        pa_.field("channel", pa_.string(), nullable=False),
        pa_.field("value", pa_.float64()),
        pa_.field("unit", pa_.string(), nullable=False),
        pa_.field("replayed", pa_.bool_(), nullable=False),
    ]
    return pa_.schema(fields)


def export_batch(rows: Sequence[ExportRow]) -> pa.RecordBatch:
    """Readings as one Arrow batch of :func:`readings_schema` (a non-finite value is
    null: the CSV writes it as ``nan``)."""
    need("pyarrow")
    import pyarrow as pa_

    batch: pa.RecordBatch = pa_.record_batch([
        pa_.array([r[0] for r in rows], pa_.float64()),
        pa_.array([micros(r[0]) for r in rows], pa_.timestamp("us", tz="UTC")),
        pa_.array([r[1] for r in rows], pa_.string()),
        pa_.array([r[2] for r in rows], pa_.string()),
        pa_.array([r[3] if math.isfinite(r[3]) else None for r in rows], pa_.float64()),
        pa_.array([r[4] for r in rows], pa_.string()),
        pa_.array([r[5] for r in rows], pa_.bool_()),
    ], schema=readings_schema())
    return batch


def export_row(reading: StoredReading) -> ExportRow:
    """A stored reading as an export row."""
    value = math.nan if reading.value is None else reading.value
    return (reading.ts, reading.instrument, reading.channel, value, reading.unit,
            reading.replayed)


def readings_table(readings: Iterable[StoredReading], run_id: str) -> pd.DataFrame:
    """A run's readings in long form: the CSV export's columns and rows, oldest first,
    typed as the Parquet export is (it is built the same way)."""
    need("pyarrow")
    import pyarrow as pa_

    batch = export_batch([export_row(r) for r in readings])
    frame: pd.DataFrame = pa_.Table.from_batches([batch]).to_pandas()
    frame.attrs["run_id"] = run_id
    return frame


def readings_frame(readings: Iterable[StoredReading], run_id: str) -> pd.DataFrame:
    """A run's readings in wide form: a UTC ``time`` index, a column per channel, units
    in ``attrs["units"]`` (the module's docstring says how CSV lines map onto rows)."""
    need("pandas")
    import pandas as pd_

    items = list(readings)
    owners: dict[str, set[str]] = {}
    for r in items:
        owners.setdefault(r.channel, set()).add(r.instrument)

    def column(r: StoredReading) -> str:
        return r.channel if len(owners[r.channel]) == 1 else f"{r.instrument}.{r.channel}"

    units: dict[str, str] = {}
    times: list[int] = []
    rows: list[dict[str, float]] = []
    current: dict[str, float] | None = None
    for r in items:
        name = column(r)
        units.setdefault(name, r.unit)
        if current is None or micros(r.ts) != times[-1] or name in current:
            current = {}
            rows.append(current)
            times.append(micros(r.ts))
        current[name] = math.nan if r.value is None else r.value
    columns = list(units)
    index = pd_.DatetimeIndex(pd_.to_datetime(times, unit="us", utc=True), name="time")
    frame: pd.DataFrame = pd_.DataFrame(rows, index=index, columns=columns, dtype="float64")
    frame.columns.name = "channel"
    frame.attrs.update({"run_id": run_id, "units": units,
                        "instruments": sorted({r.instrument for r in items})})
    return frame


def with_units(frame: pd.DataFrame) -> pd.DataFrame:
    """The wide frame with each column named with its unit (``temp_top [degC]``), for a
    plot's legend or a printed table."""
    units: dict[str, str] = frame.attrs.get("units", {})
    renamed: pd.DataFrame = frame.rename(
        columns={c: f"{c} [{units[c]}]" for c in frame.columns if c in units})
    return renamed


def peel_curve_frame(test: PeelTestRecord, curve: PeelCurve) -> pd.DataFrame:
    """A peel test's curve: ``travel_mm`` and ``force_n`` per captured point (every
    ``attrs["step"]``-th), with the test and its computed strength in ``attrs``."""
    need("pandas")
    import pandas as pd_

    index = pd_.RangeIndex(0, curve.n_points, curve.step, name="point")[:len(curve.mm)]
    frame: pd.DataFrame = pd_.DataFrame(
        {"travel_mm": curve.mm, "force_n": curve.force_n}, index=index, dtype="float64")
    result = test.result
    frame.attrs.update({
        "test_id": test.id, "specimen_id": test.specimen_id, "sample_id": test.sample_id,
        "aging_hours": test.aging_hours, "status": test.status, "width_mm": test.width_mm,
        "speed_mm_per_min": test.speed_mm_per_min, "angle_deg": test.angle_deg,
        "n_points": curve.n_points, "step": curve.step,
        "units": {"travel_mm": "mm", "force_n": "N"},
        "peel_strength_n_per_cm": result.peel_strength_n_per_cm if result else None,
        "mean_force_n": result.mean_force_n if result else None,
        "steady_start_mm": result.steady_start_mm if result else None,
        "steady_end_mm": result.steady_end_mm if result else None,
    })
    return frame


def excursions_frame(record: AgingRunRecord) -> pd.DataFrame:
    """An aging run's excursions: start, end (NaT while open), hours, peak deviation and
    peak oven temperature."""
    need("pandas")
    import pandas as pd_

    frame: pd.DataFrame = pd_.DataFrame({
        "start": pd_.to_datetime([micros(e.start_ts) for e in record.excursions],
                                 unit="us", utc=True),
        "end": pd_.to_datetime([math.nan if e.end_ts is None else float(micros(e.end_ts))
                                for e in record.excursions], unit="us", utc=True),
        "hours": [None if e.end_ts is None else (e.end_ts - e.start_ts) / 3600.0
                  for e in record.excursions],
        "peak_deviation_c": [e.peak_deviation_c for e in record.excursions],
        "peak_pv_c": [e.peak_pv_c for e in record.excursions],
    }, index=pd_.Index([e.id for e in record.excursions], name="excursion"))
    frame["hours"] = frame["hours"].astype("float64")
    return frame


#: The columns of :func:`table1_frame`, in the patent's order: the sample, its adhesive,
#: the laser grade, peel as made and after 150 °C × 1000 h; then spreads, the patent's
#: values and the verdicts.
TABLE1_COLUMNS = (
    "lot", "material", "adhesive_thickness_um", "no_film", "laser_grade",
    "peel_as_made_n_per_cm", "peel_aged_n_per_cm", "sd_as_made_n_per_cm", "sd_aged_n_per_cm",
    "specimens_as_made", "specimens_aged", "aging_hours", "patent_laser_grade",
    "patent_as_made_n_per_cm", "patent_aged_n_per_cm", "as_made_passed", "aged_passed",
    "grade_passed",
)


def table1_frame(table: Table1Record) -> pd.DataFrame:
    """A campaign's Table 1 as the patent lays it out: a row per sample (index ``sample``:
    its label, e.g. ``Example 1``), the laser grade and peel strengths (N/cm) as made and
    aged (``aging_hours``: the aged specimens' hours in the oven), beside the patent's
    values; NaN/None where a sample has no film or a cell is not
    measured yet. The campaign and the tolerance are in ``attrs``."""
    need("pandas")
    import pandas as pd_

    records = [{
        "lot": r.lot, "material": r.material, "adhesive_thickness_um": r.adhesive_thickness_um,
        "no_film": r.no_film, "laser_grade": r.laser_grade,
        "peel_as_made_n_per_cm": r.as_made.mean_n_per_cm,
        "peel_aged_n_per_cm": r.aged.mean_n_per_cm,
        "sd_as_made_n_per_cm": r.as_made.sd_n_per_cm, "sd_aged_n_per_cm": r.aged.sd_n_per_cm,
        "specimens_as_made": len(r.as_made.specimens), "specimens_aged": len(r.aged.specimens),
        "aging_hours": max((s.aging_hours for s in r.aged.specimens
                            if s.aging_hours is not None), default=None),
        "patent_laser_grade": r.patent_laser_grade,
        "patent_as_made_n_per_cm": r.as_made.patent_n_per_cm,
        "patent_aged_n_per_cm": r.aged.patent_n_per_cm,
        "as_made_passed": r.as_made.passed, "aged_passed": r.aged.passed,
        "grade_passed": r.grade_passed,
    } for r in table.rows]
    frame: pd.DataFrame = pd_.DataFrame(
        records, columns=list(TABLE1_COLUMNS),
        index=pd_.Index([r.label for r in table.rows], name="sample"))
    floats = [c for c in TABLE1_COLUMNS if c.endswith(("_n_per_cm", "_um", "_hours"))]
    frame[floats] = frame[floats].astype("float64")
    frame.attrs.update({
        "campaign_id": table.campaign.id, "title": table.campaign.title,
        "status": table.campaign.status, "steps_done": table.campaign.steps_done,
        "steps_total": table.campaign.steps_total,
        "tolerance_n_per_cm": table.tolerance_n_per_cm, "aging_run_id": table.aging_run_id,
    })
    return frame
