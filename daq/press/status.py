"""Reading a press once at the bench (``daq press status|reset --resource …``): identity,
temperatures, pressure, state, door and alarms, optionally acknowledging a trip first.

This opens the press directly, for a press no station is running; a link failure comes
back as a :class:`~daq.station.errors.StationError` naming the driver's error.
"""

from __future__ import annotations

from typing import TypedDict

from daq.station.errors import StationError
from drivers.errors import InstrumentError
from drivers.lamination_press import LaminationPress


class PressStatus(TypedDict):
    """One reading of the press as ``daq press status`` shows it."""

    press: str
    resource: str
    identity: str
    state: str
    temp_top_c: float
    temp_bottom_c: float
    pressure_mpa: float
    ram_mm: float
    door: str
    alarms: list[str]


async def read_press(name: str, resource: str, timeout_s: float,
                     acknowledge: bool = False) -> PressStatus:
    """Read the press at ``resource`` once (``acknowledge``: ``*CLS`` first)."""
    try:
        async with LaminationPress(resource, timeout_s) as press:
            if acknowledge:
                await press.clear_status()
            identity = await press.identify()
            reading = await press.measure_all()
            door_closed = await press.door_closed()
            alarms = await press.alarms()
    except InstrumentError as exc:
        raise StationError(f"{type(exc).__name__}: {exc}") from None
    return PressStatus(
        press=name, resource=resource, identity=str(identity), state=str(reading.state),
        temp_top_c=reading.temp_top_c, temp_bottom_c=reading.temp_bottom_c,
        pressure_mpa=reading.pressure_mpa, ram_mm=reading.ram_mm,
        door="closed" if door_closed else "open", alarms=list(alarms),
    )
