"""Instruments: link state, identity, latest values and the state each is in truth (a
press latched SAFE, tripped, a door or interlock open, offline, fault, with the cause);
an operator resets a latched press (after finding why it tripped), audited."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.acquisition import poll_press, polled_press_state
from daq.api.audit import audited, note_action, note_detail
from daq.api.deps import (
    Operator,
    SessionDep,
    StationDep,
    authorize,
)
from daq.api.schemas import InstrumentOut, ResetOut, error_responses
from daq.api.shared_read import SharedRead
from daq.api.snapshots import snapshot
from daq.messages import AlarmChanged
from daq.station import alarms
from daq.station.interface import InstrumentView, Station
from daq.storage.models import Instrument
from drivers.errors import InstrumentError
from drivers.lamination_press import LaminationPress, PressState

router = APIRouter(
    prefix="/api/instruments", tags=["instruments"], responses=error_responses(401, 403)
)


#: Interlock channels (true = closed, fine) and what it means when one is not.
INTERLOCKS = (("door_closed", "door open"), ("enclosure_closed", "enclosure open"),
              ("key_on", "key switch off"), ("chiller_ok", "chiller not ok"))


def driver_kinds(station: Station, rows: list[Instrument]) -> dict[str, str]:
    """Instrument name → driver kind, of this station's instruments and the stored ones."""
    kinds = {row.name: row.driver for row in rows}
    kinds.update({name: inst.driver_name for name, inst in station.instruments.items()})
    return kinds


def _truth(link_status: str, values: Mapping[str, Mapping[str, object]],
           inst: InstrumentView | None, error: Exception | None,
           latched_because: str | None) -> tuple[str, str | None, bool]:
    """(state, cause, resettable) of one instrument of this station, from its link
    status and latest values."""
    if link_status == "offline":
        return "offline", str(error) if error else "not connected", False
    if link_status == "fault":
        return "fault", str(error) if error else "the instrument reported a fault", False
    press_state = (polled_press_state(inst.driver)
                   if inst is not None and isinstance(inst.driver, LaminationPress) else None)
    if press_state is PressState.ESTOP:
        return "tripped", "emergency stop pressed: release it at the press, then reset", True
    if press_state is PressState.SAFE:
        return "safe", latched_because or "the press is SAFE (tripped or aborted): find " \
            "why, then reset it", True
    door_open = values.get("door_open")
    if door_open is not None and door_open.get("v"):
        return "door open", "the door is open", False
    for channel, cause in INTERLOCKS:
        item = values.get(channel)
        if item is not None and not item.get("v"):
            return "interlock open", cause, False
    return "online", None, False


def describe_instruments(station: Station, rows: list[Instrument],
                         latched: Mapping[str, str] | None = None) -> list[InstrumentOut]:
    """Merge what the database knows (driver, resource, idn) with the live instruments;
    rows of other stations sharing the database follow, as stored (keyed by station, name).
    ``latched``: instrument → the message of the alarm that latched it."""
    latched = latched or {}
    here = station.settings.station
    known = {row.name: row for row in rows if row.station in (here, "")}
    configured = station.settings.instruments
    live = station.instruments
    names = sorted(set(known) | set(station.pollers) | set(configured) | set(live))
    out: list[InstrumentOut] = []
    for name in names:
        row = known.get(name)
        cfg = configured.get(name)
        inst = live.get(name)
        poller = station.pollers.get(name) or (inst.poller if inst is not None else None)
        latest = poller.latest if poller is not None else None
        live_status = poller.status if poller is not None else None
        link_status = str(live_status or _status_without_poller(inst, row))
        values: dict[str, dict[str, object]] = (
            {ch: {"v": val.v, "unit": val.unit} for ch, val in latest.values.items()}
            if latest else {})
        state, cause, resettable = _truth(
            link_status, values, inst, poller.last_error if poller is not None else None,
            latched.get(name))
        out.append(
            InstrumentOut(
                name=name,
                station=here,
                driver=inst.driver_name if inst is not None
                else (row.driver if row else (cfg.driver if cfg else None)),
                resource=inst.resource if inst is not None
                else (row.resource if row else (cfg.resource if cfg else None)),
                # design.md "Alarms": a press latched SAFE (or tripped) is a fault, with why
                status="fault" if state in ("safe", "tripped") else link_status,
                idn=(inst.idn if inst is not None else None) or (row.idn if row else None),
                last_seen_ts=latest.ts if latest else (row.last_seen_ts if row else None),
                run_id=poller.run_id if poller is not None else None,
                values=values,
                state=state,
                cause=cause,
                resettable=resettable,
            )
        )
    for row in sorted(rows, key=lambda r: (r.station, r.name)):
        if row.station in (here, ""):
            continue
        out.append(InstrumentOut(
            name=row.name, station=row.station, driver=row.driver, resource=row.resource,
            status=row.status, idn=row.idn, last_seen_ts=row.last_seen_ts,
        ))
    return out


def _status_without_poller(inst: InstrumentView | None, row: Instrument | None) -> str:
    # Instruments that are not polled (the peel tester streams only while it peels) are
    # online when the station connected to them and got their identity.
    if inst is not None and inst.idn:
        return "online"
    return row.status if row else "offline"


#: How long the stored instrument records are reused by ``GET /api/instruments`` (they
#: change when an instrument connects; the live part of the answer is never reused).
STORED_RECORDS_MAX_AGE_S = 1.0


def stored_instruments(sessions: async_sessionmaker[AsyncSession]
                       ) -> SharedRead[list[Instrument]]:
    """The stored instrument records (this station's and others' sharing the database),
    read by one request at a time and reused for :data:`STORED_RECORDS_MAX_AGE_S`."""
    async def read() -> list[Instrument]:
        async with sessions() as session:
            return list((await session.scalars(select(Instrument))).all())

    return SharedRead(read, STORED_RECORDS_MAX_AGE_S)


def _latched_safe(inst: InstrumentView) -> bool:
    """True if ``inst`` is a press whose latest poll found it SAFE (latched)."""
    return (isinstance(inst.driver, LaminationPress)
            and polled_press_state(inst.driver) is PressState.SAFE)


#: Renders the instrument list to JSON in one call (the models are validated when built).
INSTRUMENTS_JSON = TypeAdapter(list[InstrumentOut])


async def list_instruments(request: Request) -> Response:  # app.add_hot_reads routes it
    """Every instrument with its status and latest values (viewer). The answer is at
    most 50 ms old and never older than the last command (a reset shows at once)."""
    # Dashboards poll this. The role is checked here rather than by a dependency, and one
    # rendered list is shared for 50 ms (daq.api.snapshots) rather than built, validated
    # against the response model and re-encoded per request (the model is still the
    # declared schema).
    await authorize(request, "viewer")
    shared: SharedRead[bytes] = request.app.state.instruments_snapshot
    return Response(await shared.get(), media_type="application/json")


def instruments_snapshot(station: Station, sessions: async_sessionmaker[AsyncSession],
                         records: SharedRead[list[Instrument]]) -> SharedRead[bytes]:
    """The rendered ``GET /api/instruments`` of ``station``, shared for a moment."""

    async def render() -> bytes:
        rows = await records.get()
        kinds = driver_kinds(station, rows)
        latched: dict[str, str] = {}
        # Why a press is latched is asked of the database only when one is (SAFE).
        safe = [name for name, inst in station.instruments.items()
                if kinds.get(name) in alarms.LATCHING_DRIVERS and _latched_safe(inst)]
        if safe:
            async with sessions() as session:
                for name in safe:
                    views = await alarms.latched_by(session, name, station.settings.station,
                                                    kinds)
                    if views:
                        latched[name] = views[0].row.message
        return INSTRUMENTS_JSON.dump_json(describe_instruments(station, rows, latched))

    return snapshot(render)


@router.post("/{name}/reset", response_model=ResetOut, responses=error_responses(404, 409),
             **audited("instrument.reset"))
async def reset_instrument(name: str, request: Request, me: Operator, session: SessionDep,
                           station: StationDep) -> ResetOut:
    """Reset a press latched SAFE (operator; do it after finding why it tripped): ``*CLS``
    once its door is closed and no run holds it, then its state is read back and the
    alarms that latched it are cleared."""
    inst = station.instruments.get(name)
    note_action(request, "instrument.reset", target=name)
    if inst is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no instrument {name!r} here")
    press = inst.driver
    if not isinstance(press, LaminationPress):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{name} is a {inst.driver_name}: only a press latches")
    before = polled_press_state(press)
    note_action(request, "instrument.reset", target=name,
                from_state=str(before) if before else None)
    holder = station.run_engine.holder_of(name)
    if holder is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{name} is held by run {holder.run_id} ({holder.kind}, "
                                   f"{holder.operator}): abort it first")
    try:
        if not await press.door_closed():
            raise HTTPException(status.HTTP_409_CONFLICT,
                                detail=f"the door of {name} is open: close it, then reset")
        await press.clear_status()
        await poll_press(press)  # the state shown from now on is the one after the reset
        after = polled_press_state(press)
        door = "closed" if await press.door_closed() else "open"
        still = await press.alarms()
    except InstrumentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{name} did not answer: {exc}") from None
    if after in (PressState.SAFE, PressState.ESTOP):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{name} is still {after} (alarms: {', '.join(still) or 'none'})"
                                   ": release the emergency stop at the press first")
    rows = list((await session.scalars(select(Instrument))).all())
    cleared = await alarms.clear_latched(session, name, station.settings.station, me.name,
                                         station.clock.now(), driver_kinds(station, rows),
                                         station.settings.mqtt_prefix)
    station.publisher.wake_outbox()
    for view in cleared:
        station.bus.publish(AlarmChanged(view.row.id, station.clock.now(), "clear",
                                         str(view.state), me.name))
    ids = [view.row.id for view in cleared]
    note_detail(request, state=str(after), cleared_alarms=ids)
    return ResetOut(name=name, state=str(after), door=door, alarms=still, cleared_alarms=ids)
