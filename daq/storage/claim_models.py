"""Instrument claims: which station (and which process of it) controls an instrument now.

One row per instrument, keyed by its physical identity — the normalised VISA resource
string (:func:`daq.station.ownership.normalise_resource`) — so that two stations naming
the same press differently still collide. The primary key is what makes claiming atomic
on SQLite and PostgreSQL alike: of two concurrent inserts exactly one commits.
Times are wall-clock epoch seconds (a heartbeat is about real processes, not the
simulated clock).
"""

from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base


class InstrumentClaim(Base):
    """A live (or stale) claim of one instrument by one process of one station."""

    __tablename__ = "instrument_claims"

    resource: Mapped[str] = mapped_column(String(255), primary_key=True)
    station: Mapped[str] = mapped_column(String(64), index=True)
    instrument: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    instance: Mapped[str] = mapped_column(String(36), index=True)
    claimed_since: Mapped[float] = mapped_column(Float)
    heartbeat: Mapped[float] = mapped_column(Float)
