"""Alarms in ISA-18.2 states: what an alarm is now, and the operators' changes to it.

An alarm is *active* while its condition holds. The condition of a press alarm that
came with its safe state (a cycle ABORTED, FAULTED or refused because the press is SAFE)
is the latch itself: the press stays SAFE until an operator resets it, so the alarm stays
active until then (``clear_latched`` at the reset). Every other alarm reports a moment
(a dwell paused, an excursion past its limit, a laser job faulted): its condition has
passed when it is raised, so it is *cleared unacknowledged* until someone acknowledges it.

States: ``UNACK`` active unacknowledged → ``ACKED`` active acknowledged → ``NORMAL``
(cleared); or ``RTN_UNACK`` cleared unacknowledged → ``NORMAL`` on acknowledgement.
``SHELVED`` overrides them while a shelf (reason, until when) lasts. Every change is
written with who made it and put on the MQTT outbox (``{prefix}/alarms``) in the same
transaction; the API audits it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from daq.storage.models import AlarmRow
from daq.storage.outbox import alarms_topic, enqueue

#: Driver kinds whose safe state latches until an operator resets the instrument.
LATCHING_DRIVERS = frozenset({"lamination_press"})


class AlarmState(StrEnum):
    """ISA-18.2 alarm states."""

    UNACK = "UNACK"  # active, unacknowledged
    ACKED = "ACKED"  # active, acknowledged
    RTN_UNACK = "RTN_UNACK"  # cleared (returned to normal), unacknowledged
    NORMAL = "NORMAL"  # cleared and acknowledged
    SHELVED = "SHELVED"  # set aside by an operator for a time, with a reason


class AlarmError(Exception):
    """An alarm change that cannot be made; the message says why."""


class AlarmNotFound(AlarmError):
    """No alarm with that id."""


class AlarmConflict(AlarmError):
    """The change does not fit the alarm's state (acknowledged already, not shelved)."""


def latches(row: AlarmRow, drivers: Mapping[str, str]) -> bool:
    """True if ``row`` came with a safe state that latches until a reset (``drivers``:
    instrument name → driver kind)."""
    return drivers.get(row.source) in LATCHING_DRIVERS and "outcome" in (row.data or {})


@dataclass(frozen=True)
class AlarmView:
    """An alarm with its state now."""

    row: AlarmRow
    state: AlarmState
    active: bool
    latching: bool


def view_of(row: AlarmRow, drivers: Mapping[str, str], now_wall: float | None = None
            ) -> AlarmView:
    """Where ``row`` stands now."""
    now_wall = time.time() if now_wall is None else now_wall
    latching = latches(row, drivers)
    active = latching and row.cleared_ts is None
    if row.shelved_until_wall is not None and row.shelved_until_wall > now_wall:
        state = AlarmState.SHELVED
    elif active:
        state = AlarmState.ACKED if row.acked_ts is not None else AlarmState.UNACK
    else:
        state = AlarmState.NORMAL if row.acked_ts is not None else AlarmState.RTN_UNACK
    return AlarmView(row, state, active, latching)


async def list_alarms(
    session: AsyncSession, drivers: Mapping[str, str], *, station: str | None = None,
    source: str | None = None, states: frozenset[AlarmState] | None = None,
    limit: int = 100, offset: int = 0,
) -> list[AlarmView]:
    """Alarms, newest first, with their state; filtered by station, source and states."""
    query = select(AlarmRow).order_by(AlarmRow.id.desc())
    if station:
        query = query.where(AlarmRow.station == station)
    if source:
        query = query.where(AlarmRow.source == source)
    if states is None:
        rows = (await session.scalars(query.limit(limit).offset(offset))).all()
        return [view_of(r, drivers) for r in rows]
    # States depend on now and on the latch: filter as read, in pages of the table.
    out: list[AlarmView] = []
    skipped = 0
    page, start = 500, 0
    while len(out) < limit:
        rows = (await session.scalars(query.limit(page).offset(start))).all()
        for r in rows:
            v = view_of(r, drivers)
            if v.state not in states:
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(v)
            if len(out) >= limit:
                break
        if len(rows) < page:
            break
        start += page
    return out


async def _row(session: AsyncSession, alarm_id: int) -> AlarmRow:
    row = await session.get(AlarmRow, alarm_id, with_for_update=True)
    if row is None:
        raise AlarmNotFound(f"no alarm {alarm_id}")
    return row


async def _announce(session: AsyncSession, prefix: str, view: AlarmView, change: str,
                    user: str, ts: float, **extra: Any) -> None:
    row = view.row
    body = {"alarm_id": row.id, "change": change, "state": str(view.state), "by": user,
            "source": row.source, "severity": row.severity, "message": row.message,
            "run_id": row.run_id, "station": row.station, **extra}
    await enqueue(session, alarms_topic(prefix), body, created_ts=ts)


async def acknowledge(session: AsyncSession, alarm_id: int, user: str, ts: float,
                      drivers: Mapping[str, str], prefix: str) -> AlarmView:
    """Acknowledge an alarm (active or cleared); :class:`AlarmConflict` if it is already."""
    row = await _row(session, alarm_id)
    if row.acked_ts is not None:
        raise AlarmConflict(f"alarm {alarm_id} was acknowledged by {row.acked_by} already")
    row.acked_ts, row.acked_by = ts, user
    view = view_of(row, drivers)
    await _announce(session, prefix, view, "ack", user, ts)
    await session.commit()
    return view


async def shelve(session: AsyncSession, alarm_id: int, user: str, ts: float, *,
                 reason: str, until_wall: float, drivers: Mapping[str, str], prefix: str
                 ) -> AlarmView:
    """Shelve an alarm until ``until_wall`` (real epoch seconds) for ``reason``."""
    row = await _row(session, alarm_id)
    row.shelved_until_wall, row.shelved_by, row.shelve_reason = until_wall, user, reason
    view = view_of(row, drivers)
    await _announce(session, prefix, view, "shelve", user, ts, reason=reason,
                    shelved_until_wall=until_wall)
    await session.commit()
    return view


async def unshelve(session: AsyncSession, alarm_id: int, user: str, ts: float,
                   drivers: Mapping[str, str], prefix: str) -> AlarmView:
    """End a shelf early; :class:`AlarmConflict` if the alarm is not shelved."""
    row = await _row(session, alarm_id)
    if view_of(row, drivers).state is not AlarmState.SHELVED:
        raise AlarmConflict(f"alarm {alarm_id} is not shelved")
    row.shelved_until_wall = None
    view = view_of(row, drivers)
    await _announce(session, prefix, view, "unshelve", user, ts)
    await session.commit()
    return view


async def latched_by(session: AsyncSession, source: str, station: str,
                     drivers: Mapping[str, str]) -> list[AlarmView]:
    """The active latching alarms of ``source`` (newest first): why it is latched."""
    rows = (await session.scalars(
        select(AlarmRow).where(AlarmRow.source == source, AlarmRow.cleared_ts.is_(None),
                               AlarmRow.station == station)
        .order_by(AlarmRow.id.desc()).limit(200))).all()
    return [v for v in (view_of(r, drivers) for r in rows) if v.active]


async def clear_latched(session: AsyncSession, source: str, station: str, user: str,
                        ts: float, drivers: Mapping[str, str], prefix: str
                        ) -> list[AlarmView]:
    """Clear the latching alarms of ``source`` (its latch was reset); where each stands now."""
    cleared: list[AlarmView] = []
    for view in await latched_by(session, source, station, drivers):
        view.row.cleared_ts, view.row.cleared_by = ts, user
        cleared.append(view_of(view.row, drivers))
        await _announce(session, prefix, cleared[-1], "clear", user, ts)
    await session.commit()
    return cleared
