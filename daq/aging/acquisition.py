"""Idle polling of the aging oven for the station's acquisition: chamber temperature,
setpoint and door, so that dashboards and MQTT subscribers see the oven live.

The hour accounting of an aging run never uses these readings: it reads the oven's own
log (``daq.aging.procedure``), which also covers the time nobody was polling.
"""

from __future__ import annotations

import contextlib

from daq.messages import Value
from drivers.aging_oven import OvenSensorFault
from drivers.oven import Oven


async def poll_oven(oven: Oven) -> dict[str, Value]:
    """Chamber temperature (absent while the sensor is faulty), setpoint and door."""
    values = {
        "setpoint": Value(await oven.setpoint_c(), "degC"),
        "door_open": Value(float(await oven.door_open()), "bool"),
    }
    # A sensor fault is the oven's alarm to raise, not a broken link: no temperature then.
    with contextlib.suppress(OvenSensorFault):
        values["temperature"] = Value(await oven.process_value_c(), "degC")
    return values
