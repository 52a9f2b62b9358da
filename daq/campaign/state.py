"""A campaign's progress in the database: the campaign row, its steps, its clock.

Every change is one short transaction. A step goes PENDING → RUNNING (with the run id it
is working on, before that run starts) → DONE (in the same transaction as what the step
produced, e.g. the laminate and its specimens) or FAILED. After a crash a RUNNING step is
looked at again: if its run finished DONE the step is completed from it, otherwise the
step is redone with a new run (the old one was closed INTERRUPTED by the station's
recovery, and stays on record).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.campaign.model import Campaign
from daq.campaign.plan import plan_steps
from daq.storage.campaign_models import CampaignRow, CampaignStepRow

Sessions = async_sessionmaker[AsyncSession]


class CampaignMismatch(ValueError):
    """The campaign id is on record with other steps (planned from a different file)."""


class UnknownCampaign(LookupError):
    """No campaign with that id in the database."""


@dataclass(frozen=True)
class ClockAnchor:
    """Simulated time ``sim_ts`` at real time ``wall_ts``, running at ``scale``."""

    sim_ts: float
    wall_ts: float
    scale: float

    def sim_at(self, wall_ts: float) -> float:
        """Simulated time at real time ``wall_ts`` had the clock run on."""
        return self.sim_ts + (wall_ts - self.wall_ts) * self.scale


async def get_campaign(sessions: Sessions, campaign_id: str) -> CampaignRow | None:
    """The campaign row, if any."""
    async with sessions() as session:
        return await session.get(CampaignRow, campaign_id)


async def open_campaign(
    sessions: Sessions, campaign: Campaign, sha256: str, path: str, anchor: ClockAnchor,
) -> tuple[CampaignRow, bool]:
    """The campaign's row (created with its steps if new); True when it was created.

    Refuses (:class:`CampaignMismatch`) when the same id was planned with other steps."""
    planned = plan_steps(campaign)
    async with sessions.begin() as session:
        row = await session.get(CampaignRow, campaign.id)
        if row is None:
            row = CampaignRow(
                id=campaign.id, title=campaign.campaign.title or campaign.id, file_path=path,
                file_sha256=sha256, definition=campaign.model_dump(mode="json"),
                status="RUNNING", started_ts=anchor.sim_ts, clock_sim_ts=anchor.sim_ts,
                clock_wall_ts=anchor.wall_ts, clock_scale=anchor.scale, sessions=1,
            )
            session.add(row)
            for seq, step in enumerate(planned):
                session.add(CampaignStepRow(
                    campaign_id=campaign.id, seq=seq, key=step.key, kind=step.kind,
                    sample_id=step.sample_id, specimen_id=step.specimen_id, status="PENDING",
                    tried_runs=[], attempts=0, result={}))
            return row, True
        keys = list(await session.scalars(select(CampaignStepRow.key).where(
            CampaignStepRow.campaign_id == campaign.id).order_by(CampaignStepRow.seq)))
        if keys != [s.key for s in planned]:
            raise CampaignMismatch(
                f"campaign {campaign.id} is on record with other steps (planned from "
                f"{row.file_path}); give this campaign another id")
        row.sessions += 1
        if row.status == "FAILED":
            row.status, row.reason = "RUNNING", None
        row.file_sha256, row.file_path = sha256, path
        row.definition = campaign.model_dump(mode="json")
        return row, False


async def save_clock(sessions: Sessions, campaign_id: str, anchor: ClockAnchor) -> None:
    """Remember the clock (after a change of scale)."""
    async with sessions.begin() as session:
        row = await session.get(CampaignRow, campaign_id)
        if row is not None:
            row.clock_sim_ts, row.clock_wall_ts = anchor.sim_ts, anchor.wall_ts
            row.clock_scale = anchor.scale


async def list_steps(sessions: Sessions, campaign_id: str) -> list[CampaignStepRow]:
    """Every step of the campaign in order."""
    async with sessions() as session:
        return list(await session.scalars(select(CampaignStepRow).where(
            CampaignStepRow.campaign_id == campaign_id).order_by(CampaignStepRow.seq)))


async def begin_step(sessions: Sessions, step_id: int, run_id: str | None, ts: float) -> None:
    """The step is RUNNING with ``run_id`` (recorded before the run starts)."""
    async with sessions.begin() as session:
        step = await session.get(CampaignStepRow, step_id)
        assert step is not None
        step.status, step.run_id, step.started_ts, step.ended_ts = "RUNNING", run_id, ts, None
        step.attempts += 1
        if run_id is not None:
            step.tried_runs = [*step.tried_runs, run_id]


async def finish_step(
    sessions: Sessions, step_id: int, ts: float, result: dict[str, Any],
    also: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> None:
    """The step is DONE with ``result``; ``also`` writes what it produced, atomically."""
    async with sessions.begin() as session:
        if also is not None:
            await also(session)
        step = await session.get(CampaignStepRow, step_id)
        assert step is not None
        step.status, step.ended_ts, step.result = "DONE", ts, result


async def fail_step(sessions: Sessions, step_id: int, ts: float, reason: str) -> None:
    """The step FAILED (and with it the campaign, until it is run again)."""
    async with sessions.begin() as session:
        step = await session.get(CampaignStepRow, step_id)
        assert step is not None
        step.status, step.ended_ts = "FAILED", ts
        step.result = {**step.result, "reason": reason}
        row = await session.get(CampaignRow, step.campaign_id)
        if row is not None:
            row.status, row.reason = "FAILED", f"{step.key}: {reason}"


async def finish_campaign(sessions: Sessions, campaign_id: str, ts: float) -> None:
    """Every step is done."""
    async with sessions.begin() as session:
        row = await session.get(CampaignRow, campaign_id)
        if row is not None:
            row.status, row.ended_ts, row.reason = "DONE", ts, None
