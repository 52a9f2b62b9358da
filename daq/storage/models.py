"""Core tables of the station: instruments, samples, laminates, specimens, runs, events,
readings, the MQTT outbox, alarms and the audit log.

Portable between SQLite and PostgreSQL: JSON columns use ``sqlalchemy.JSON``, big
autoincrement keys are ``BigInteger`` on PostgreSQL and ``INTEGER`` on SQLite (where only
``INTEGER PRIMARY KEY`` is a rowid alias that autoincrements). Timestamps are simulated
epoch seconds (float); ``wall_ts`` columns are real epoch seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base

#: An autoincrement key that is 64-bit on PostgreSQL and a rowid alias on SQLite.
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")

#: Status values of ``runs.status``.
RUN_STATUSES = ("RUNNING", "DONE", "ABORTED", "FAULTED", "INCOMPLETE", "INTERRUPTED")

#: States of ``specimens.state``.
SPECIMEN_STATES = ("AS_MADE", "AGING", "PULLED", "PEELED")


class Instrument(Base):
    """An instrument a station knows: which driver speaks to it, where, and its health.

    Keyed by (station, name): two stations sharing one database may both call their
    press ``press1``. Rows written before 0007 carry station ``""`` (unknown)."""

    __tablename__ = "instruments"

    station: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(255))
    idn: Mapped[str | None] = mapped_column(String(255), default=None)
    last_seen_ts: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16), default="offline")


class Sample(Base):
    """A lot of adhesive film (id = lot id such as ``EX1-2026-001``) and its material."""

    __tablename__ = "samples"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    material_key: Mapped[str] = mapped_column(String(32))
    material_name: Mapped[str] = mapped_column(String(128))
    adhesive_thickness_um: Mapped[float] = mapped_column(Float)
    film_forms: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_ts: Mapped[float] = mapped_column(Float)


class Laminate(Base):
    """A laminate pressed from a sample, optionally linked to the press run that made it."""

    __tablename__ = "laminates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), index=True)
    press_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), default=None)
    created_ts: Mapped[float] = mapped_column(Float)


class Specimen(Base):
    """A peel specimen cut from a laminate (or a sample), with its aging history."""

    __tablename__ = "specimens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    laminate_id: Mapped[str | None] = mapped_column(
        ForeignKey("laminates.id"), default=None, index=True
    )
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), index=True)
    width_mm: Mapped[float] = mapped_column(Float, default=3.0)
    aging_hours: Mapped[float] = mapped_column(Float, default=0.0)
    aging_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16), default="AS_MADE")
    created_ts: Mapped[float] = mapped_column(Float)


class Run(Base):
    """One run of a procedure (press cycle, peel test, aging run, laser job) and its outcome."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    instrument: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True, default="RUNNING")
    phase: Mapped[str | None] = mapped_column(String(32), default=None)
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    operator: Mapped[str | None] = mapped_column(String(64), default=None)
    sample_id: Mapped[str | None] = mapped_column(String(64), default=None)
    station: Mapped[str | None] = mapped_column(String(64), default=None)
    started_ts: Mapped[float] = mapped_column(Float, index=True)
    started_wall: Mapped[float | None] = mapped_column(Float, default=None, index=True)
    ended_ts: Mapped[float | None] = mapped_column(Float, default=None)
    readings_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    last_reading_ts: Mapped[float | None] = mapped_column(Float, default=None)


class RunEventRow(Base):
    """A state transition, progress point, result or note of a run."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReadingRow(Base):
    """One channel of one poll: the bulk of the database, written in batches."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_run_id_ts", "run_id", "ts"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    instrument: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    replayed: Mapped[bool] = mapped_column(Boolean, default=False)


class MqttOutbox(Base):
    """A QoS 1 message waiting for (or delivered to) the broker; ``id`` is delivery order."""

    __tablename__ = "mqtt_outbox"
    __table_args__ = (Index("ix_mqtt_outbox_unpublished", "published_ts", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    qos: Mapped[int] = mapped_column(Integer, default=1)
    retain: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ts: Mapped[float] = mapped_column(Float)
    published_ts: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AlarmRow(Base):
    """An alarm raised by an instrument, interlock or procedure, and where it stands in
    ISA-18.2 terms (:mod:`daq.station.alarms`): cleared, acknowledged, shelved, by whom.
    ``ts``/``cleared_ts``/``acked_ts`` are simulated time; ``shelved_until_wall`` is real
    time (an operator shelves for a time they live through)."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    source: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    station: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    cleared_ts: Mapped[float | None] = mapped_column(Float, default=None)
    cleared_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acked_ts: Mapped[float | None] = mapped_column(Float, default=None)
    acked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    shelved_until_wall: Mapped[float | None] = mapped_column(Float, default=None)
    shelved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    shelve_reason: Mapped[str | None] = mapped_column(Text, default=None)


class JournalApplied(Base):
    """The id of every journal record applied, written in the same transaction as the
    record itself, so that a record replayed after a crash is not applied twice."""

    __tablename__ = "journal_applied"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    op: Mapped[str] = mapped_column(String(32))
    applied_wall_ts: Mapped[float] = mapped_column(Float)


class AuditLog(Base):
    """Who did what, when (simulated and wall time), to what, from which state, with what result."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    wall_ts: Mapped[float] = mapped_column(Float)
    user: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128), default=None)
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[str] = mapped_column(String(32), default="ok")
