"""What the API needs from the running station (``daq.service.Lab``), in one place.

The API reads the station through these few functions so that the seam to the service
is explicit and small: the database sessions, the live instruments and the procedures.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.clock import SimClock
from daq.config import Settings


class LabLike(Protocol):
    """The part of ``daq.service.Lab`` the API uses."""

    settings: Settings
    clock: SimClock
    bus: Bus

    async def start_press_cycle(self, recipe: Any, operator: str | None) -> str:
        """Start a press cycle; the run id."""

    async def abort(self, run_id: str, operator: str | None) -> Any:
        """Abort a live run."""

    def active_runs(self) -> Any:
        """The runs that are live now."""


def sessions_of(lab: Any) -> async_sessionmaker[AsyncSession]:
    """The station's database session factory."""
    for holder in (lab, getattr(lab, "recorder", None), getattr(lab, "db", None)):
        if holder is None:
            continue
        for attr in ("sessions", "session_factory", "sessionmaker"):
            found = getattr(holder, attr, None)
            if isinstance(found, async_sessionmaker):
                return found
    raise RuntimeError("the station has no database session factory")


def active_run_ids(lab: Any) -> list[str]:
    """Ids of the runs live in this station."""
    runs = lab.active_runs()
    if isinstance(runs, dict):
        return [str(k) for k in runs]
    ids: list[str] = []
    for item in runs:
        ids.append(item if isinstance(item, str) else str(getattr(item, "run_id", item)))
    return ids


def pollers_of(lab: Any) -> dict[str, Any]:
    """The station's instrument pollers by name (``daq.acquisition.InstrumentPoller``)."""
    pollers = getattr(lab, "pollers", None)
    if isinstance(pollers, dict):
        return pollers
    return {}
