"""Registering the specimens a command names but the station has no record of: the lot
(from ``--sample``, else the id up to its last ``-``), its material (``--material``, else
the lot's prefix), a laminate if named, then the specimen, each with ``POST /api/…``.
``daq peel run`` and ``daq aging start`` do this, so a specimen needs no step of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from daq.client import Refused, RunStarted, Station
from daq.materials import material_key_of

#: A specimen's width when the command does not say (JIS C 6481's 3 mm strip), mm.
DEFAULT_WIDTH_MM = 3.0


@dataclass(frozen=True)
class NewSpecimen:
    """What to register when the specimen is not on record yet."""

    specimen_id: str
    sample: str | None
    material: str | None
    laminate: str | None
    press_run: str | None
    aging_hours: float | None
    width_mm: float


async def register_specimen(station: Station, new: NewSpecimen) -> None:
    """Register the specimen (and its lot and laminate, if new) with the station."""
    sid = new.specimen_id
    sample_id = new.sample or (sid.rsplit("-", 1)[0] if "-" in sid else None)
    key = new.material or (material_key_of(sample_id) if sample_id else None)
    if sample_id is None or key is None:
        raise Refused(422, f"specimen {sid!r} is not on record "
                      "(give --sample LOT --material KEY to create it)")
    await station.register("samples", {"id": sample_id, "material_key": key})
    if new.laminate is not None:
        await station.register("laminates", {"id": new.laminate, "sample_id": sample_id,
                                             "press_run_id": new.press_run})
    await station.register("specimens", {
        "id": sid, "laminate_id": new.laminate, "sample_id": sample_id,
        "width_mm": new.width_mm, "aging_hours": new.aging_hours or 0.0})


async def register_specimens(station: Station, ids: Iterable[str], sample: str | None,
                             material: str | None) -> None:
    """Register each of ``ids`` not on record yet (as made, 3 mm wide)."""
    for sid in ids:
        await register_specimen(station, NewSpecimen(sid, sample, material, None, None, None,
                                                     DEFAULT_WIDTH_MM))


async def start_registering(station: Station, kind: str, params: BaseModel, field: str,
                            register: Callable[[], Awaitable[None]]) -> RunStarted:
    """Start a run of ``kind``; refused because ``field`` names what is not on record,
    ``register`` it and start again (any other refusal stands)."""
    try:
        return await station.start_run(kind, params)
    except Refused as exc:
        if not exc.about(field):
            raise
    await register()
    return await station.start_run(kind, params)
