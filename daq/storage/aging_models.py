"""Tables of aging runs: the run's plan and hour accounting (its checkpoint), its
excursions out of the tolerance band and its pull-outs of specimens.

``aging_runs.id`` is the run id in ``runs`` (kind ``aging_run``); the row is rewritten at
every checkpoint, so a restarted service resumes from ``accounted_until_ts`` and back-fills
the rest from the oven's log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base
from daq.storage.models import BigIntPk

#: Status values of ``aging_runs.status`` (mirrors ``runs.status``).
AGING_STATUSES = ("RUNNING", "DONE", "ABORTED")


class AgingRunRow(Base):
    """An aging run: what it holds to, and where its accounting stands."""

    __tablename__ = "aging_runs"

    id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    oven: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True, default="RUNNING")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    setpoint_c: Mapped[float] = mapped_column(Float)
    tolerance_c: Mapped[float] = mapped_column(Float)
    target_h: Mapped[float] = mapped_column(Float)
    specimen_plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_ts: Mapped[float] = mapped_column(Float)
    accounted_until_ts: Mapped[float] = mapped_column(Float)
    in_tolerance_s: Mapped[float] = mapped_column(Float, default=0.0)
    out_of_tolerance_s: Mapped[float] = mapped_column(Float, default=0.0)
    unmonitored_s: Mapped[float] = mapped_column(Float, default=0.0)
    rows_out_of_order: Mapped[int] = mapped_column(Integer, default=0)
    excursion_count: Mapped[int] = mapped_column(Integer, default=0)
    open_excursion_id: Mapped[int | None] = mapped_column(Integer, default=None)
    pullouts_announced: Mapped[list[float]] = mapped_column(JSON, default=list)
    last_pv_c: Mapped[float | None] = mapped_column(Float, default=None)
    completed_ts: Mapped[float | None] = mapped_column(Float, default=None)
    checkpoint_wall_ts: Mapped[float | None] = mapped_column(Float, default=None)
    resumes: Mapped[int] = mapped_column(Integer, default=0)


class AgingExcursionRow(Base):
    """A period out of the tolerance band: start, end (None while open), peak deviation."""

    __tablename__ = "aging_excursions"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("aging_runs.id"), index=True)
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float | None] = mapped_column(Float, default=None)
    last_out_ts: Mapped[float] = mapped_column(Float)
    peak_deviation_c: Mapped[float] = mapped_column(Float)
    peak_pv_c: Mapped[float] = mapped_column(Float)
    alarm_raised: Mapped[bool] = mapped_column(Boolean, default=False)


class AgingPulloutRow(Base):
    """Specimens taken out of the oven, at how many in-tolerance hours."""

    __tablename__ = "aging_pullouts"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("aging_runs.id"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    planned_h: Mapped[float | None] = mapped_column(Float, default=None)
    in_tolerance_h: Mapped[float] = mapped_column(Float)
    specimen_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    operator: Mapped[str | None] = mapped_column(String(64), default=None)
