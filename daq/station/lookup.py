"""Finding a station's instrument of a kind, typed, for the procedure factories."""

from __future__ import annotations

from typing import TypeVar

from daq.station.errors import NoSuchInstrument
from daq.station.interface import InstrumentView, Station

D = TypeVar("D")

#: What an operator calls an instrument of each driver.
LABELS = {"lamination_press": "press", "peel_tester": "peel tester", "aging_oven": "oven",
          "uv_laser": "laser"}
#: Drivers that serve the same kind of instrument as another (asked for by that name).
SAME_KIND = {"aging_oven_modbus": "aging_oven"}


def kind_of(driver_name: str) -> str:
    """The kind of instrument a driver serves (``aging_oven_modbus`` → ``aging_oven``)."""
    return SAME_KIND.get(driver_name, driver_name)


def instrument_for(station: Station, driver_name: str, name: str | None = None
                   ) -> InstrumentView:
    """The instrument ``name`` (which must be a ``driver_name``), or the station's first
    instrument of that driver; :class:`NoSuchInstrument` names what there is."""
    of_kind = [i for i in station.instruments.values() if kind_of(i.driver_name) == driver_name]
    if name is None:
        if not of_kind:
            raise NoSuchInstrument(f"this station has no instrument with driver {driver_name}")
        return of_kind[0]
    found = station.instruments.get(name)
    if found is None or kind_of(found.driver_name) != driver_name:
        known = ", ".join(i.name for i in of_kind) or "none"
        label = LABELS.get(driver_name, driver_name)
        raise NoSuchInstrument(f"no {label} named {name!r} in this station "
                               f"({label}s here: {known})")
    return found


def driver_as(instrument: InstrumentView, cls: type[D]) -> D:
    """The instrument's driver as ``cls`` (the driver class its kind is built with)."""
    driver = instrument.driver
    if not isinstance(driver, cls):
        raise NoSuchInstrument(f"{instrument.name} is driven by {type(driver).__name__}, "
                               f"not {cls.__name__}")
    return driver
