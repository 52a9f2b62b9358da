"""Driver of the hot lamination press (SCPI over a TCP socket, port 5025).

Usable on its own, in a script or a notebook::

    async with LaminationPress("TCPIP::127.0.0.1::5025::SOCKET") as press:
        await press.set_temperature_c(200)
        await press.set_heater(True)
        print(await press.measure_all())

Each method is one exchange with the press. Setters send the command and read the error
queue in the same exchange (``write_checked``), so a setpoint the press refuses (it
enforces ≤250 °C and ≤10 MPa itself) raises :class:`InstrumentCommandError` at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import ProtocolError
from drivers.link import InstrumentLink
from drivers.scpi import ScpiInstrument
from drivers.transport.base import DEFAULT_TIMEOUT_S, Transport
from drivers.transport.factory import make_transport


class PressState(StrEnum):
    """The press's own state (last field of ``MEAS:ALL?``)."""

    IDLE = "IDLE"
    HEAT = "HEAT"  # heater on, pressure off
    PRESS = "PRESS"  # pressure output on
    SAFE = "SAFE"  # tripped or aborted: heaters off, pressure released, until *RST/*CLS
    ESTOP = "ESTOP"  # emergency stop pressed


@dataclass(frozen=True)
class PlatenTemperatures:
    """Both platens' temperatures, °C."""

    top_c: float
    bottom_c: float


@dataclass(frozen=True)
class PressReading:
    """One ``MEAS:ALL?`` snapshot of the press."""

    temp_top_c: float
    temp_bottom_c: float
    pressure_mpa: float
    ram_mm: float
    state: PressState


def _format_number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {value}")
    return f"{value:.6g}"


class LaminationPress(InstrumentLink):
    """A hot lamination press: two heated platens, a hydraulic ram, door, alarms, watchdog."""

    def __init__(self, resource: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.transport = make_transport(resource, timeout_s)
        self._scpi = ScpiInstrument(self.transport)

    @classmethod
    def from_transport(cls, transport: Transport) -> LaminationPress:
        """A driver over an existing transport (open or not)."""
        press = cls.__new__(cls)
        press.transport = transport
        press._scpi = ScpiInstrument(transport)
        return press

    # -- identity and status -------------------------------------------------------------
    async def identify(self) -> str:
        """Get the ``*IDN?`` identity string (maker, model, serial, firmware)."""
        return await self._scpi.identify()

    async def reset(self) -> None:
        """Set ``*RST``: setpoints to defaults, outputs off, watchdog off, leaves SAFE."""
        await self._scpi.write_checked("*RST")

    async def clear_status(self) -> None:
        """Set ``*CLS``: clear the error queue and alarms and leave the SAFE state."""
        await self._scpi.write_checked("*CLS")

    async def errors(self) -> list[tuple[int, str]]:
        """Get and empty the SCPI error queue: ``[(code, text), …]``, empty when none."""
        return await self._scpi.errors()

    async def door_closed(self) -> bool:
        """Measure whether the press door (guard) is closed."""
        reply = (await self._scpi.query("STAT:DOOR?")).strip().upper()
        if reply not in {"OPEN", "CLOSED"}:
            raise ProtocolError("expected OPEN or CLOSED", reply=reply, resource=self.resource)
        return reply == "CLOSED"

    async def alarms(self) -> list[str]:
        """Measure the active alarms (``OVERTEMP``, ``DOOR``, ``WATCHDOG`` …); empty = none."""
        reply = (await self._scpi.query("STAT:ALARM?")).strip().upper()
        if reply == "NONE":
            return []
        names = [part.strip() for part in reply.split(",")]
        if not reply or not all(name.replace("_", "").isalnum() for name in names):
            raise ProtocolError("expected NONE or a list of alarm names", reply=reply,
                                resource=self.resource)
        return names

    # -- temperature ---------------------------------------------------------------------
    async def set_temperature_c(self, temperature_c: float) -> None:
        """Set the platen temperature setpoint, °C (the press refuses > 250 °C)."""
        await self._scpi.write_checked(f"TEMP:SET {_format_number(temperature_c)}")

    async def temperature_setpoint_c(self) -> float:
        """Get the platen temperature setpoint, °C."""
        return await self._scpi.query_float("TEMP:SET?")

    async def set_ramp_rate_c_per_min(self, rate_c_per_min: float) -> None:
        """Set the heating ramp-rate limit, °C/min."""
        await self._scpi.write_checked(f"TEMP:RAMP {_format_number(rate_c_per_min)}")

    async def set_heater(self, on: bool) -> None:
        """Set the platen heaters on or off (refused while SAFE, ESTOP or the door is open)."""
        await self._scpi.write_checked(f"OUTP:HEAT {'ON' if on else 'OFF'}")

    async def measure_temperatures_c(self) -> PlatenTemperatures:
        """Measure both platens' temperatures, °C."""
        top, bottom = await self._scpi.query_floats("MEAS:TEMP?", 2)
        return PlatenTemperatures(top, bottom)

    # -- pressure ------------------------------------------------------------------------
    async def set_pressure_mpa(self, pressure_mpa: float) -> None:
        """Set the pressing-pressure setpoint, MPa (the press refuses > 10 MPa)."""
        await self._scpi.write_checked(f"PRES:SET {_format_number(pressure_mpa)}")

    async def pressure_setpoint_mpa(self) -> float:
        """Get the pressing-pressure setpoint, MPa."""
        return await self._scpi.query_float("PRES:SET?")

    async def set_pressure_output(self, on: bool) -> None:
        """Set the hydraulic pressure output on (build to setpoint) or off (release)."""
        await self._scpi.write_checked(f"OUTP:PRES {'ON' if on else 'OFF'}")

    async def measure_pressure_mpa(self) -> float:
        """Measure the pressing pressure, MPa."""
        return await self._scpi.query_float("MEAS:PRES?")

    # -- everything at once ----------------------------------------------------------------
    async def measure_all(self) -> PressReading:
        """Measure temperatures, pressure, ram position and state in one exchange."""
        reply = await self._scpi.query("MEAS:ALL?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 5:
            raise ProtocolError("expected 5 fields in MEAS:ALL? reply", reply=reply,
                                resource=self.resource)
        try:
            state = PressState(parts[4].upper())
        except ValueError:
            raise ProtocolError("unknown press state", reply=reply,
                                resource=self.resource) from None
        try:
            top, bottom, pressure, ram = (float(p) for p in parts[:4])
        except ValueError:
            raise ProtocolError("expected numbers in MEAS:ALL? reply", reply=reply,
                                resource=self.resource) from None
        return PressReading(top, bottom, pressure, ram, state)

    # -- safety ----------------------------------------------------------------------------
    async def arm_watchdog(self, timeout_s: float) -> None:
        """Set the watchdog: without a command for ``timeout_s`` real seconds the press goes
        SAFE by itself (0 disarms it)."""
        await self._scpi.write_checked(f"SYST:WDOG {_format_number(timeout_s)}")

    async def kick_watchdog(self) -> None:
        """Set the watchdog's countdown back to full (any command also does)."""
        await self._scpi.write("SYST:WDOG:KICK")

    async def abort(self) -> None:
        """Set the press SAFE at once: heaters off, pressure released."""
        await self._scpi.write_checked("ABOR")
