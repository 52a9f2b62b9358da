"""The database recorder: every run, event, result and alarm is a row and, in the same
transaction, an MQTT outbox row, so nothing recorded can miss the broker.

After the commit the message is mirrored onto the bus (WebSocket fan-out). Calls are
serialised, so outbox ids (the delivery order) follow the order in which procedures
recorded things. A database that is briefly locked or down is retried with back-off for
``retry_for_s`` before :class:`DatabaseUnavailable` is raised.

It is also the journal's sink (:meth:`DbRecorder.apply`): the station's procedures record
through :class:`daq.station.recording.JournalledRecorder`, whose single writer applies
each record here with the same rows, idempotently (``journal_applied``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Alarm, RunEvent
from daq.record import JournalRecord, RunInfo, alarm_of, event_of, run_info_of
from daq.storage.errors import DatabaseUnavailable, is_transient
from daq.storage.models import AlarmRow, AuditLog, JournalApplied, ReadingRow, Run, RunEventRow
from daq.storage.outbox import alarms_topic, enqueue, events_topic, jsonable

log = logging.getLogger(__name__)

#: The rows one record writes, inside a transaction; the argument is the outbox message id
#: (the journal record's id, or ``None`` for a fresh one).
Work = Callable[[AsyncSession, str | None], Awaitable[None]]

#: Keys of a transition event's ``data`` that name the new phase, in order of preference.
PHASE_KEYS = ("to", "phase", "state")


def phase_of(event: RunEvent) -> str | None:
    """The phase a transition event moves the run into (``None`` for other events)."""
    if event.kind != "transition":
        return None
    for key in PHASE_KEYS:
        value = event.data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class DbRecorder:
    """A :class:`daq.record.Recorder` on the database; each method is durable on return."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus | None = None,
        *,
        prefix: str = "lamina/lab1",
        station: str | None = None,
        clock: SimClock | None = None,
        on_outbox: Callable[[], None] | None = None,
        retry_for_s: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.prefix = prefix
        self.station = station
        self.clock = clock or SimClock()
        #: Called after each commit that added outbox rows (wakes the MQTT publisher).
        self.on_outbox = on_outbox
        self.retry_for_s = retry_for_s
        self.retries = 0
        self._lock = asyncio.Lock()
        #: Held while a transaction creates run rows; the reading writer holds it around
        #: each batch (``ReadingWriter.run_rows_lock``). A run row counts the readings on
        #: record before it, and a batch advances the counts of the run rows it sees: run
        #: at once, a batch committed between the count and the run row's commit would
        #: be in neither (seen as a run whose count was one poll short of its rows).
        self.run_rows_lock = asyncio.Lock()

    async def _transact(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        delay = 0.05
        deadline = time.monotonic() + self.retry_for_s
        async with self._lock:
            while True:
                try:
                    async with self.sessions() as session, session.begin():
                        await work(session)
                    return
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    if time.monotonic() + delay > deadline:
                        url = str(self.sessions.kw.get("bind", "?"))
                        raise DatabaseUnavailable(url, str(exc).splitlines()[0]) from exc
                    self.retries += 1
                    log.warning("database busy or down (%s); retrying in %.2f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def _after_commit(self, message: RunEvent | Alarm) -> None:
        if self.on_outbox is not None:
            self.on_outbox()
        if self.bus is not None:
            self.bus.publish(message)

    async def _add_event(
        self, session: AsyncSession, event: RunEvent, message_id: str | None = None
    ) -> None:
        data = jsonable(event.data)
        session.add(RunEventRow(run_id=event.run_id, ts=event.ts, kind=event.kind, data=data))
        body = {"ts": event.ts, "run_id": event.run_id, "kind": event.kind, "data": data}
        await enqueue(session, events_topic(self.prefix, event.run_id), body, created_ts=event.ts,
                      message_id=message_id)

    # -- one record: the rows it writes (shared by the direct calls and the journal) -------
    def _start_run_work(self, run: RunInfo) -> tuple[Work, RunEvent]:
        started = RunEvent(
            run.run_id,
            run.started_ts,
            "note",
            {
                "event": "started",
                "run_kind": run.kind,
                "instrument": run.instrument,
                "operator": run.operator,
                "sample_id": run.sample_id,
                "recipe": run.recipe,
            },
        )

        async def work(session: AsyncSession, message_id: str | None) -> None:
            # Readings are written by their own writer and may be on record before the run
            # row is (the run start waited in the journal): count them in, not zero.
            stored, last_ts = (await session.execute(
                select(func.count(), func.max(ReadingRow.ts))
                .where(ReadingRow.run_id == run.run_id)
            )).one()
            session.add(
                Run(
                    id=run.run_id,
                    kind=run.kind,
                    instrument=run.instrument,
                    status="RUNNING",
                    phase=None,
                    recipe=jsonable(run.recipe),
                    summary={},
                    operator=run.operator,
                    sample_id=run.sample_id,
                    station=self.station,
                    started_ts=run.started_ts,
                    started_wall=run.started_wall,
                    readings_stored=int(stored or 0),
                    last_reading_ts=last_ts,
                )
            )
            await session.flush()  # the run row before its event (foreign key)
            await self._add_event(session, started, message_id)

        return work, started

    def _event_work(self, event: RunEvent) -> tuple[Work, RunEvent]:
        phase = phase_of(event)

        async def work(session: AsyncSession, message_id: str | None) -> None:
            if phase is not None:
                await session.execute(update(Run).where(Run.id == event.run_id).values(phase=phase))
            await self._add_event(session, event, message_id)

        return work, event

    def _finish_run_work(
        self, run_id: str, ts: float, outcome: str, reason: str | None, summary: dict[str, Any]
    ) -> tuple[Work, RunEvent]:
        result = RunEvent(
            run_id, ts, "result", {"status": outcome, "reason": reason, "summary": summary}
        )

        async def work(session: AsyncSession, message_id: str | None) -> None:
            await session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(status=outcome, ended_ts=ts, reason=reason, summary=jsonable(summary))
            )
            await self._add_event(session, result, message_id)

        return work, result

    def _alarm_work(self, alarm: Alarm) -> tuple[Work, Alarm]:
        data = jsonable(alarm.data)

        async def work(session: AsyncSession, message_id: str | None) -> None:
            session.add(
                AlarmRow(
                    ts=alarm.ts,
                    source=alarm.source,
                    severity=alarm.severity,
                    message=alarm.message,
                    run_id=alarm.run_id,
                    data=data,
                    station=self.station,
                )
            )
            body = {
                "ts": alarm.ts,
                "source": alarm.source,
                "severity": alarm.severity,
                "message": alarm.message,
                "run_id": alarm.run_id,
                "data": data,
            }
            await enqueue(session, alarms_topic(self.prefix), body, created_ts=alarm.ts,
                          message_id=message_id)

        return work, alarm

    def _work_of(self, record: JournalRecord) -> tuple[Work, RunEvent | Alarm]:
        body = record.body
        if record.op == "start_run":
            return self._start_run_work(run_info_of(body))
        if record.op == "event":
            return self._event_work(event_of(body))
        if record.op == "finish_run":
            return self._finish_run_work(body["run_id"], float(body["ts"]), body["outcome"],
                                         body.get("reason"), dict(body.get("summary") or {}))
        if record.op == "alarm":
            return self._alarm_work(alarm_of(body))
        raise ValueError(f"unknown journal record {record.op!r}")

    # -- the Recorder (each call durable on return) ----------------------------------------
    async def start_run(self, run: RunInfo) -> None:
        """Insert the run (RUNNING) with its first event, ``note``/``started``."""
        work, message = self._start_run_work(run)
        async with self.run_rows_lock:
            await self._transact(lambda session: work(session, None))
        self._after_commit(message)

    async def event(self, event: RunEvent) -> None:
        """Insert the event (and move ``runs.phase`` on a transition) plus its outbox row."""
        work, message = self._event_work(event)
        await self._transact(lambda session: work(session, None))
        self._after_commit(message)

    async def finish_run(
        self, run_id: str, ts: float, outcome: str, reason: str | None, summary: dict[str, Any]
    ) -> None:
        """Close the run with ``outcome`` and announce it as a ``result`` event."""
        work, message = self._finish_run_work(run_id, ts, outcome, reason, summary)
        await self._transact(lambda session: work(session, None))
        self._after_commit(message)

    async def alarm(self, alarm: Alarm) -> None:
        """Insert the alarm and its outbox row on ``{prefix}/alarms``."""
        work, message = self._alarm_work(alarm)
        await self._transact(lambda session: work(session, None))
        self._after_commit(message)

    async def settled(self, timeout_s: float | None = None) -> bool:
        """Always settled: every call is durable when it returns."""
        return True

    # -- the journal's sink ----------------------------------------------------------------
    async def apply(self, records: Sequence[JournalRecord]) -> None:
        """Apply journal records in order in one transaction (one attempt: the journal
        retries). A record whose id is on record already is skipped, so a replay after a
        crash duplicates nothing; the outbox message takes the record's id."""
        ids = [r.id for r in records]
        messages: list[RunEvent | Alarm] = []
        creates_runs = any(r.op == "start_run" for r in records)
        run_rows = self.run_rows_lock if creates_runs else contextlib.nullcontext()
        async with run_rows, self._lock, self.sessions() as session, session.begin():
            done = set((await session.scalars(
                select(JournalApplied.id).where(JournalApplied.id.in_(ids))
            )).all())
            now = time.time()
            for record in records:
                if record.id in done:
                    continue
                work, message = self._work_of(record)
                await work(session, record.id)
                session.add(JournalApplied(id=record.id, op=record.op, applied_wall_ts=now))
                messages.append(message)
                done.add(record.id)
        for message in messages:
            self._after_commit(message)

    async def interrupt_run(
        self,
        run_id: str,
        *,
        ended_ts: float,
        reason: str,
        readings_stored: int,
        last_reading_ts: float | None,
        phase: str | None,
    ) -> None:
        """Close a run found live after a crash as INTERRUPTED, with what was stored of it."""
        result = RunEvent(
            run_id,
            self.clock.now(),
            "result",
            {
                "status": "INTERRUPTED",
                "reason": reason,
                "phase": phase,
                "readings_stored": readings_stored,
                "last_reading_ts": last_reading_ts,
            },
        )

        async def work(session: AsyncSession) -> None:
            await session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status="INTERRUPTED",
                    ended_ts=ended_ts,
                    reason=reason,
                    readings_stored=readings_stored,
                    last_reading_ts=last_reading_ts,
                )
            )
            await self._add_event(session, result)

        await self._transact(work)
        self._after_commit(result)

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
        """Write one audit-log line: who did what to what, from which state, and the result."""

        async def work(session: AsyncSession) -> None:
            session.add(
                AuditLog(
                    ts=self.clock.now() if ts is None else ts,
                    wall_ts=time.time(),
                    user=user,
                    action=action,
                    target=target,
                    from_state=from_state,
                    detail=jsonable(detail or {}),
                    result=result,
                )
            )

        await self._transact(work)
