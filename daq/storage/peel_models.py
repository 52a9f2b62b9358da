"""Tables of peel testing: one row per peel test (with its whole force curve) and one
per computed result.

The curve is stored compactly in the test's row: ``curve`` holds the points as
little-endian float32 pairs (travel mm, force N), 8 bytes a point (``curve_format``
``f32le-mm-n``). A 10 000-point curve is 80 kB — one BLOB/bytea value written in the
same transaction as the test, on SQLite and PostgreSQL alike, instead of 10 000 rows.
float32 keeps 7 significant digits: 0.001 mm of 300 mm travel and 0.1 mN of 50 N.
On PostgreSQL the column is ``STORAGE EXTERNAL`` (out of line, not compressed).
"""

from __future__ import annotations

import array
import sys
from typing import Any

from sqlalchemy import DDL, JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base
from daq.storage.models import BigIntPk

CURVE_FORMAT = "f32le-mm-n"


def pack_curve(mm: list[float], force_n: list[float]) -> bytes:
    """Points as interleaved little-endian float32 (mm, N) pairs."""
    if len(mm) != len(force_n):
        raise ValueError(f"{len(mm)} positions but {len(force_n)} forces")
    values = array.array("f", [0.0]) * (2 * len(mm))
    values[0::2] = array.array("f", mm)
    values[1::2] = array.array("f", force_n)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack_curve(blob: bytes) -> tuple[list[float], list[float]]:
    """The (mm, N) lists of a packed curve."""
    values = array.array("f")
    values.frombytes(blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values[0::2].tolist(), values[1::2].tolist()


class PeelTestRow(Base):
    """One peel of one specimen: settings, outcome, and the captured curve."""

    __tablename__ = "peel_tests"

    id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)  # = run id
    specimen_id: Mapped[str | None] = mapped_column(
        ForeignKey("specimens.id"), default=None, index=True
    )
    #: The specimen as the tester named it (``unassigned`` when nobody said).
    specimen_label: Mapped[str] = mapped_column(String(64))
    sample_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    laminate_id: Mapped[str | None] = mapped_column(String(64), default=None)
    aging_hours: Mapped[float | None] = mapped_column(Float, default=None)
    instrument: Mapped[str] = mapped_column(String(64))
    width_mm: Mapped[float] = mapped_column(Float)
    speed_mm_per_min: Mapped[float] = mapped_column(Float)
    angle_deg: Mapped[float] = mapped_column(Float)
    trigger: Mapped[str] = mapped_column(String(16), default="command")  # or "front_panel"
    status: Mapped[str] = mapped_column(String(16))  # DONE, INCOMPLETE, FAULTED, ABORTED
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    started_ts: Mapped[float] = mapped_column(Float, index=True)
    ended_ts: Mapped[float | None] = mapped_column(Float, default=None)
    n_points: Mapped[int] = mapped_column(Integer, default=0)
    garbled_lines: Mapped[int] = mapped_column(Integer, default=0)
    curve_format: Mapped[str] = mapped_column(String(16), default=CURVE_FORMAT)
    #: Deferred: listing tests never drags their curves along; ask for it by name.
    curve: Mapped[bytes] = mapped_column(LargeBinary, default=b"", deferred=True)


class PeelResultRow(Base):
    """The peel strength of one test and the statistics of its steady region."""

    __tablename__ = "peel_results"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    peel_test_id: Mapped[str] = mapped_column(
        ForeignKey("peel_tests.id"), unique=True, index=True
    )
    specimen_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    sample_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    aging_hours: Mapped[float | None] = mapped_column(Float, default=None)
    peel_strength_n_per_cm: Mapped[float] = mapped_column(Float)
    mean_force_n: Mapped[float] = mapped_column(Float)
    min_force_n: Mapped[float] = mapped_column(Float)
    max_force_n: Mapped[float] = mapped_column(Float)
    sd_force_n: Mapped[float] = mapped_column(Float)
    n_samples: Mapped[int] = mapped_column(Integer)
    garbled_lines: Mapped[int] = mapped_column(Integer, default=0)
    steady_start_mm: Mapped[float] = mapped_column(Float)
    steady_end_mm: Mapped[float] = mapped_column(Float)
    width_mm: Mapped[float] = mapped_column(Float)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_ts: Mapped[float] = mapped_column(Float)


#: On PostgreSQL the curve is stored out of line without compression: packed floats do
#: not compress, and trying costs ~40 % of the time to store a long curve.
CURVE_STORAGE_DDL = "ALTER TABLE peel_tests ALTER COLUMN curve SET STORAGE EXTERNAL"
event.listen(
    PeelTestRow.__table__,
    "after_create",
    DDL(CURVE_STORAGE_DDL).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)
