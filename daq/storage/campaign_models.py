"""Tables of a campaign (the lab's whole Table 1 workflow): the campaign and its steps.

A campaign row remembers the file it was planned from, how far it got and the simulated
clock it ran on (so a resumed process continues the same simulated time line). One step
row per unit of work (record the samples, one press cycle, one peel, the aging run, the
pull-out, one laser job), in the order they are carried out; a step keeps the run id it
is working on and every run it tried, so a step cut short by a crash is redone honestly
and never silently repeated once done.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base
from daq.storage.models import BigIntPk

#: ``campaigns.status``.
CAMPAIGN_STATUSES = ("RUNNING", "DONE", "FAILED")
#: ``campaign_steps.status``.
STEP_STATUSES = ("PENDING", "RUNNING", "DONE", "FAILED")


class CampaignRow(Base):
    """A campaign: its definition (the parsed file), status and simulated clock."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    started_ts: Mapped[float] = mapped_column(Float)
    ended_ts: Mapped[float | None] = mapped_column(Float, default=None)
    #: Simulated time ``clock_sim_ts`` was reached at real time ``clock_wall_ts``, running
    #: at ``clock_scale`` since: enough to rebuild the clock after a restart.
    clock_sim_ts: Mapped[float] = mapped_column(Float)
    clock_wall_ts: Mapped[float] = mapped_column(Float)
    clock_scale: Mapped[float] = mapped_column(Float)
    sessions: Mapped[int] = mapped_column(Integer, default=1)


class CampaignStepRow(Base):
    """One step of a campaign, its state, the run doing it and every run it tried."""

    __tablename__ = "campaign_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "key", name="uq_campaign_steps_key"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    sample_id: Mapped[str | None] = mapped_column(String(64), default=None)
    specimen_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    tried_runs: Mapped[list[str]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_ts: Mapped[float | None] = mapped_column(Float, default=None)
    ended_ts: Mapped[float | None] = mapped_column(Float, default=None)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
