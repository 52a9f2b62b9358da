"""The health check's database probe: one ``SELECT 1`` at a time, its answer shared.

Every ``GET /health`` used to open a session and run ``SELECT 1`` of its own: twenty
monitoring clients cost twenty database round trips a poll. Now concurrent checks
share the probe in flight, and an answer younger than :data:`MAX_AGE_S` is reused
(:class:`~daq.api.shared_read.SharedRead`), so the database sees about one probe per
:data:`MAX_AGE_S` however many clients ask; a database that stops answering shows in
``/health`` within ``MAX_AGE_S`` plus the probe's own timeout.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api.shared_read import SharedRead

#: How long a probe's answer is reused (seconds).
MAX_AGE_S = 1.0
#: A locked or stopped database must not hang the health check.
TIMEOUT_S = 2.0


class DatabaseProbe:
    """``ok`` or ``down: <why>`` of the database, probed at most once per ``max_age_s``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 max_age_s: float = MAX_AGE_S, timeout_s: float = TIMEOUT_S) -> None:
        self.sessions = sessions
        self.timeout_s = timeout_s
        self.shared = SharedRead(self._probe, max_age_s)

    async def state(self) -> str:
        """The database's state, from a fresh enough probe."""
        return await self.shared.get()

    async def _probe(self) -> str:
        try:
            async with self.sessions() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), self.timeout_s)
        except Exception as exc:  # report it; the health check never fails with a 500
            return f"down: {type(exc).__name__}"
        return "ok"
