"""Tables of laser drilling: one row per job (parameters, outcome, grade) and one per
inspected hole.

A job's id is its run id (``laser_job-…``), so the run's events, readings and status
join on it; the job is linked to the sample lot it drilled. Holes keep the instrument's
own inspection (top and bottom diameter, dross) and the per-hole grade, so a job's grade
can be re-derived from what is stored.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base
from daq.storage.models import BigIntPk

#: ``laser_jobs.state``: how the drilling ended.
LASER_JOB_STATES = ("DONE", "ABORTED")


class LaserJobRow(Base):
    """One drilling job on one sample: what was asked, what was drilled, how it graded."""

    __tablename__ = "laser_jobs"

    id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)  # = run id
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(64))
    job_name: Mapped[str] = mapped_column(String(64))
    n_holes: Mapped[int] = mapped_column(Integer)
    holes_done: Mapped[int] = mapped_column(Integer, default=0)
    diameter_um: Mapped[float] = mapped_column(Float)
    pulse_frequency_hz: Mapped[float] = mapped_column(Float)
    hole_rate_hz: Mapped[float] = mapped_column(Float)
    power_w: Mapped[float] = mapped_column(Float)
    wavelength_nm: Mapped[float] = mapped_column(Float)
    #: ``DONE`` (every hole drilled) or ``ABORTED`` (stopped by operator, interlock or link).
    state: Mapped[str] = mapped_column(String(16))
    #: Why it stopped early: ``operator``, ``interlock``, ``key``, ``link``, ``instrument``.
    stop_cause: Mapped[str | None] = mapped_column(String(16), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: ``O``, ``Δ`` or ``X``; ``None`` for a job that was not graded (aborted).
    grade: Mapped[str | None] = mapped_column(String(4), default=None, index=True)
    holes_inspected: Mapped[int] = mapped_column(Integer, default=0)
    holes_open: Mapped[int] = mapped_column(Integer, default=0)
    holes_with_dross: Mapped[int] = mapped_column(Integer, default=0)
    open_share: Mapped[float | None] = mapped_column(Float, default=None)
    dross_share: Mapped[float | None] = mapped_column(Float, default=None)
    median_taper: Mapped[float | None] = mapped_column(Float, default=None)
    started_ts: Mapped[float] = mapped_column(Float)
    ended_ts: Mapped[float] = mapped_column(Float)


class LaserHoleRow(Base):
    """The inspection of one hole of a job (the SEM check's stand-in)."""

    __tablename__ = "laser_holes"
    __table_args__ = (UniqueConstraint("job_id", "hole_index", name="uq_laser_holes_job_hole"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("laser_jobs.id"), index=True)
    hole_index: Mapped[int] = mapped_column(Integer)
    top_um: Mapped[float] = mapped_column(Float)
    bottom_um: Mapped[float] = mapped_column(Float)
    dross: Mapped[bool] = mapped_column(Boolean)
    grade: Mapped[str] = mapped_column(String(4))
