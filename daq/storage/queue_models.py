"""The run queue of each station: one row per item, queued, running or in history.

A queued item has its ``position`` (0 = next); a running or finished one keeps the run
it started (``run_id``) and how it ended (``outcome``). Stations sharing a database each
own their rows (``station``) and read the others'.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base

#: ``queue_items.state``: waiting in the queue, started, or in history with its end.
QUEUE_ITEM_STATES = ("queued", "running", "done", "failed", "aborted")


class QueueItemRow(Base):
    """One item of a station's run queue: what to run, who added it, how it went."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_station_state", "station", "state"),)

    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    station: Mapped[str] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    operator: Mapped[str | None] = mapped_column(String(64), default=None)
    added_wall: Mapped[float] = mapped_column(Float)
    started_wall: Mapped[float | None] = mapped_column(Float, default=None)
    ended_wall: Mapped[float | None] = mapped_column(Float, default=None)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
