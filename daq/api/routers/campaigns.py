"""Campaigns: one campaign's state and the Table 1 its steps have reproduced so far."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from daq.api.deps import Viewer, get_sessions
from daq.api.schemas import error_responses
from daq.campaign.state import UnknownCampaign, get_campaign
from daq.report.data import load_report_data

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"],
                   responses=error_responses(401, 403, 404))


class CampaignOut(BaseModel):
    """A campaign: status, how many sessions it took, and its reproduced table (one row
    per lot, as ``daq campaign run --json`` prints it)."""

    id: str
    title: str
    status: str
    reason: str | None
    sessions: int
    started_ts: float
    ended_ts: float | None
    table: list[dict[str, Any]]


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_one(campaign_id: str, _: Viewer, request: Request) -> CampaignOut:
    """One campaign and its table (404 if it has not been run here)."""
    sessions = get_sessions(request)
    row = await get_campaign(sessions, campaign_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no campaign {campaign_id!r}")
    try:
        data = await load_report_data(sessions, campaign_id, with_traces=False)
    except UnknownCampaign as exc:  # removed in between
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return CampaignOut(id=row.id, title=row.title, status=row.status, reason=row.reason,
                       sessions=row.sessions, started_ts=row.started_ts,
                       ended_ts=row.ended_ts, table=data.table_json())
