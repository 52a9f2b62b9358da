"""Instruments: link state, identity and latest values of each instrument of the station."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from daq.api.deps import LabDep, SessionDep, Viewer
from daq.api.lab_access import pollers_of
from daq.api.schemas import InstrumentOut, error_responses
from daq.storage.models import Instrument

router = APIRouter(
    prefix="/api/instruments", tags=["instruments"], responses=error_responses(401, 403)
)


def describe_instruments(lab: Any, rows: list[Instrument]) -> list[InstrumentOut]:
    """Merge what the database knows (driver, resource, idn) with the live pollers; rows
    of other stations sharing the database follow, as stored (keyed by station, name)."""
    station = getattr(getattr(lab, "settings", None), "station", None)
    known = {row.name: row for row in rows if row.station in (station, "")}
    configured = getattr(getattr(lab, "settings", None), "instruments", {}) or {}
    pollers = pollers_of(lab)
    live = getattr(lab, "instruments", {}) or {}
    names = sorted(set(known) | set(pollers) | set(configured) | set(live))
    out: list[InstrumentOut] = []
    for name in names:
        row = known.get(name)
        poller = pollers.get(name)
        cfg = configured.get(name)
        inst = live.get(name)
        latest = getattr(poller, "latest", None)
        live_status = getattr(poller, "status", None)
        out.append(
            InstrumentOut(
                name=name,
                station=station,
                driver=getattr(inst, "driver_name", None)
                or (row.driver if row else (cfg.driver if cfg else None)),
                resource=getattr(inst, "resource", None)
                or (row.resource if row else (cfg.resource if cfg else None)),
                status=str(live_status or _status_without_poller(inst, row)),
                idn=getattr(inst, "idn", None) or (row.idn if row else None),
                last_seen_ts=latest.ts if latest else (row.last_seen_ts if row else None),
                run_id=getattr(poller, "run_id", None),
                values={ch: {"v": val.v, "unit": val.unit} for ch, val in latest.values.items()}
                if latest
                else {},
            )
        )
    for row in sorted(rows, key=lambda r: (r.station, r.name)):
        if row.station in (station, ""):
            continue
        out.append(InstrumentOut(
            name=row.name, station=row.station, driver=row.driver, resource=row.resource,
            status=row.status, idn=row.idn, last_seen_ts=row.last_seen_ts,
        ))
    return out


def _status_without_poller(inst: Any, row: Instrument | None) -> str:
    # Instruments that are not polled (the peel tester streams only while it peels) are
    # online when the station connected to them and got their identity.
    if inst is not None and getattr(inst, "idn", None):
        return "online"
    return row.status if row else "offline"


@router.get("", response_model=list[InstrumentOut])
async def list_instruments(_: Viewer, session: SessionDep, lab: LabDep) -> list[InstrumentOut]:
    """Every instrument with its status and latest values."""
    rows = list((await session.scalars(select(Instrument))).all())
    return describe_instruments(lab, rows)
