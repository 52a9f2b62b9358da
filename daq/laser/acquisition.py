"""Idle polling of the laser for the station's acquisition: the safety chain and power.

One call reads key, interlocks, shutter and emitted power, as channels a dashboard and
MQTT subscribers can show (``1`` = on/closed/OK/open shutter, ``0`` otherwise). Register
it with ``daq.station.instruments.register_driver`` (see docs/laser.md).
"""

from __future__ import annotations

from daq.messages import Value
from drivers.uv_laser import UvLaser


async def poll_laser(laser: UvLaser) -> dict[str, Value]:
    """Key, interlocks, shutter and emitted power as reading channels."""
    key_on = await laser.key_on()
    interlocks = await laser.interlocks()
    shutter_open = await laser.shutter_open()
    power_w = await laser.measure_power_w()
    return {
        "key_on": Value(float(key_on), "bool"),
        "door_closed": Value(float(interlocks.door_closed), "bool"),
        "enclosure_closed": Value(float(interlocks.enclosure_closed), "bool"),
        "chiller_ok": Value(float(interlocks.chiller_ok), "bool"),
        "shutter_open": Value(float(shutter_open), "bool"),
        "power": Value(power_w, "W"),
    }
