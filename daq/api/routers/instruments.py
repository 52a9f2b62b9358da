"""Instruments: link state, identity and latest values of each instrument of the station."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from daq.api.deps import SessionDep, StationDep, Viewer
from daq.api.schemas import InstrumentOut, error_responses
from daq.station.interface import InstrumentView, Station
from daq.storage.models import Instrument

router = APIRouter(
    prefix="/api/instruments", tags=["instruments"], responses=error_responses(401, 403)
)


def describe_instruments(station: Station, rows: list[Instrument]) -> list[InstrumentOut]:
    """Merge what the database knows (driver, resource, idn) with the live instruments;
    rows of other stations sharing the database follow, as stored (keyed by station, name)."""
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
        out.append(
            InstrumentOut(
                name=name,
                station=here,
                driver=inst.driver_name if inst is not None
                else (row.driver if row else (cfg.driver if cfg else None)),
                resource=inst.resource if inst is not None
                else (row.resource if row else (cfg.resource if cfg else None)),
                status=str(live_status or _status_without_poller(inst, row)),
                idn=(inst.idn if inst is not None else None) or (row.idn if row else None),
                last_seen_ts=latest.ts if latest else (row.last_seen_ts if row else None),
                run_id=poller.run_id if poller is not None else None,
                values={ch: {"v": val.v, "unit": val.unit} for ch, val in latest.values.items()}
                if latest
                else {},
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


@router.get("", response_model=list[InstrumentOut])
async def list_instruments(
    _: Viewer, session: SessionDep, station: StationDep
) -> list[InstrumentOut]:
    """Every instrument with its status and latest values."""
    rows = list((await session.scalars(select(Instrument))).all())
    return describe_instruments(station, rows)
