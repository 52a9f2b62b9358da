"""The recorder the station's procedures call: each record goes into the journal and the
call returns at once; the journal's writer stores it through the :class:`DbRecorder`
(rows and MQTT outbox row in one transaction, then the bus), in order.

So a procedure's instrument timing never waits on the database: a locked or stopped
database delays the record, not the press.
"""

from __future__ import annotations

from typing import Any

from daq.messages import Alarm, RunEvent
from daq.record import RunInfo, alarm_body, event_body, run_info_body
from daq.station.journal import Journal
from daq.storage.outbox import jsonable
from daq.storage.recorder import DbRecorder


class JournalledRecorder:
    """A :class:`daq.record.Recorder` that appends to a :class:`Journal`.

    Durable on return only in the journal's sense: in memory (bounded) or on the local
    spill file; :meth:`settled` waits until everything so far is in the database."""

    def __init__(self, journal: Journal, db: DbRecorder) -> None:
        self.journal = journal
        self.db = db

    def _append(self, op: str, body: dict[str, Any]) -> None:
        # JSON-ready now (NaN → null, tuples → lists): the record may go to the spill file.
        self.journal.append(op, jsonable(body))

    async def start_run(self, run: RunInfo) -> None:
        """Journal the start of a run."""
        self._append("start_run", run_info_body(run))

    async def event(self, event: RunEvent) -> None:
        """Journal a transition, note, progress point or result."""
        self._append("event", event_body(event))

    async def finish_run(
        self, run_id: str, ts: float, outcome: str, reason: str | None, summary: dict[str, Any]
    ) -> None:
        """Journal the end of a run."""
        self._append("finish_run", {"run_id": run_id, "ts": ts, "outcome": outcome,
                                    "reason": reason, "summary": summary})

    async def alarm(self, alarm: Alarm) -> None:
        """Journal an alarm."""
        self._append("alarm", alarm_body(alarm))

    async def settled(self, timeout_s: float | None = None) -> bool:
        """Wait until every record journalled so far is in the database."""
        return await self.journal.settled(timeout_s)

    async def audit(
        self,
        user: str | None,
        action: str,
        target: str | None = None,
        from_state: str | None = None,
        detail: dict[str, Any] | None = None,
        result: str = "ok",
        *,
        ts: float | None = None,
    ) -> None:
        """An audit line, written directly (the API's audit path, not a procedure's)."""
        await self.db.audit(user, action, target, from_state, detail, result, ts=ts)
