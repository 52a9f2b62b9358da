"""Alarms (ISA-18.2, :mod:`daq.station.alarms`): the list with each alarm's state
(viewer); acknowledge, shelve for a time with a reason, unshelve (operator), each change
audited and published on ``{prefix}/alarms``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select

from daq.api.audit import audited, note_action, note_detail
from daq.api.deps import Operator, SessionDep, StationDep, Viewer
from daq.api.routers.instruments import driver_kinds
from daq.api.schemas import AlarmOut, ShelveIn, error_responses
from daq.messages import AlarmChanged
from daq.station import alarms
from daq.station.interface import Station
from daq.storage.models import Instrument

router = APIRouter(prefix="/api/alarms", tags=["alarms"], responses=error_responses(401, 403))
CHANGE = error_responses(404, 409)

StateName = Literal["UNACK", "ACKED", "RTN_UNACK", "NORMAL", "SHELVED"]
#: ``state=open``: what still asks for attention (not NORMAL, not SHELVED).
OPEN = frozenset({alarms.AlarmState.UNACK, alarms.AlarmState.ACKED,
                  alarms.AlarmState.RTN_UNACK})


def _out(view: alarms.AlarmView) -> AlarmOut:
    r = view.row
    return AlarmOut(id=r.id, ts=r.ts, source=r.source, severity=r.severity, message=r.message,
                    run_id=r.run_id, station=r.station, data=dict(r.data or {}),
                    state=str(view.state), active=view.active, latching=view.latching,
                    cleared_ts=r.cleared_ts, cleared_by=r.cleared_by, acked_ts=r.acked_ts,
                    acked_by=r.acked_by, shelved_until_wall=r.shelved_until_wall,
                    shelved_by=r.shelved_by, shelve_reason=r.shelve_reason)


async def _kinds(session: SessionDep, station: Station) -> dict[str, str]:
    return driver_kinds(station, list((await session.scalars(select(Instrument))).all()))


@router.get("", response_model=list[AlarmOut])
async def list_alarms(
    _: Viewer,
    session: SessionDep,
    station: StationDep,
    state: Annotated[list[StateName | Literal["open"]] | None, Query(
        description="only these states; 'open' = UNACK, ACKED, RTN_UNACK")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    station_id: Annotated[str | None, Query(alias="station", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AlarmOut]:
    """Alarms, newest first, each with its ISA-18.2 state."""
    states: frozenset[alarms.AlarmState] | None = None
    if state:
        states = frozenset(s for name in state
                           for s in (OPEN if name == "open" else {alarms.AlarmState(name)}))
    views = await alarms.list_alarms(session, await _kinds(session, station),
                                     station=station_id, source=source, states=states,
                                     limit=limit, offset=offset)
    return [_out(v) for v in views]


def _refused(exc: alarms.AlarmError) -> HTTPException:
    code = (status.HTTP_404_NOT_FOUND if isinstance(exc, alarms.AlarmNotFound)
            else status.HTTP_409_CONFLICT)
    return HTTPException(code, detail=str(exc))


async def _change(request: Request, station: Station, change_name: str, user: str,
                  change: Callable[[], Awaitable[alarms.AlarmView]]) -> AlarmOut:
    """Make one change to an alarm: 404/409 in words, the MQTT outbox woken, live views
    told, audited."""
    try:
        view = await change()
    except alarms.AlarmError as exc:
        raise _refused(exc) from None
    station.publisher.wake_outbox()
    station.bus.publish(AlarmChanged(view.row.id, station.clock.now(), change_name,
                                     str(view.state), user))
    note_detail(request, state=str(view.state), source=view.row.source)
    return _out(view)


@router.post("/{alarm_id}/ack", response_model=AlarmOut, responses=CHANGE,
             **audited("alarm.ack"))
async def acknowledge(alarm_id: int, request: Request, me: Operator, session: SessionDep,
                      station: StationDep) -> AlarmOut:
    """Acknowledge an alarm (operator)."""
    note_action(request, "alarm.ack", target=str(alarm_id))
    kinds = await _kinds(session, station)
    return await _change(request, station, "ack", me.name, lambda: alarms.acknowledge(
        session, alarm_id, me.name, station.clock.now(), kinds, station.settings.mqtt_prefix))


@router.post("/{alarm_id}/shelve", response_model=AlarmOut, responses=CHANGE,
             **audited("alarm.shelve"))
async def shelve(alarm_id: int, body: ShelveIn, request: Request, me: Operator,
                 session: SessionDep, station: StationDep) -> AlarmOut:
    """Shelve an alarm for ``minutes`` (real time) with a ``reason`` (operator)."""
    note_action(request, "alarm.shelve", target=str(alarm_id), reason=body.reason,
                minutes=body.minutes)
    kinds = await _kinds(session, station)
    until = time.time() + body.minutes * 60.0
    return await _change(request, station, "shelve", me.name, lambda: alarms.shelve(
        session, alarm_id, me.name, station.clock.now(), reason=body.reason, until_wall=until,
        drivers=kinds, prefix=station.settings.mqtt_prefix))


@router.post("/{alarm_id}/unshelve", response_model=AlarmOut, responses=CHANGE,
             **audited("alarm.unshelve"))
async def unshelve(alarm_id: int, request: Request, me: Operator, session: SessionDep,
                   station: StationDep) -> AlarmOut:
    """Put a shelved alarm back before its shelf ends (operator)."""
    note_action(request, "alarm.unshelve", target=str(alarm_id))
    kinds = await _kinds(session, station)
    return await _change(request, station, "unshelve", me.name, lambda: alarms.unshelve(
        session, alarm_id, me.name, station.clock.now(), kinds, station.settings.mqtt_prefix))
