"""What the station asks of an aging oven, whichever controller it has: the typed face
shared by the serial oven (:class:`drivers.aging_oven.AgingOven`) and the Modbus PID
controller (:class:`drivers.aging_oven_modbus.AgingOvenModbus`).

Whether the oven keeps a log of its own is a capability, asked with :meth:`Oven.history`:
the serial oven hands back its log reader, a Modbus controller ``None`` (it has no memory
of what happened while nobody was reading it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from drivers.aging_oven import OvenLogPage


class OvenLog(Protocol):
    """An oven's own recorded history, read page by page (``LOG?`` on the serial oven)."""

    async def log_page(self, from_ts: float) -> OvenLogPage:
        """One page of rows recorded after ``from_ts``."""
        ...


class Oven(ABC):
    """An aging oven's controller: setpoint, heater on/off, chamber temperature, alarms,
    door switch; and its log, when it keeps one. Both oven drivers derive from it."""

    @property
    @abstractmethod
    def resource(self) -> str:
        """Where the oven is (resource string or port)."""
        ...

    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """True while the link is open."""
        ...

    @abstractmethod
    async def open(self) -> None:
        """Open the link."""
        ...

    @abstractmethod
    async def connect(self) -> None:
        """Open the link (the same as :meth:`open`)."""
        ...

    @abstractmethod
    async def close(self) -> None:
        """Close the link."""
        ...

    @abstractmethod
    async def reconnect(self) -> None:
        """Close and open the link again."""
        ...

    @abstractmethod
    async def identify(self) -> str:
        """The controller's identity."""
        ...

    @abstractmethod
    async def set_setpoint_c(self, setpoint_c: float) -> None:
        """Set the chamber setpoint in °C."""
        ...

    @abstractmethod
    async def setpoint_c(self) -> float:
        """The setpoint the controller holds."""
        ...

    @abstractmethod
    async def process_value_c(self) -> float:
        """The chamber temperature; raises ``OvenSensorFault`` when the sensor is open."""
        ...

    @abstractmethod
    async def set_running(self, running: bool) -> None:
        """Heater on (run) or off (stop)."""
        ...

    @abstractmethod
    async def alarms(self) -> tuple[str, ...]:
        """The active alarms (``OVERTEMP``, ``SENSOR``), empty when none."""
        ...

    @abstractmethod
    async def door_open(self) -> bool:
        """True when the door is open."""
        ...

    @abstractmethod
    def history(self) -> OvenLog | None:
        """The oven's own log, or ``None`` when the controller keeps none."""
        ...
