"""Driver of the 355 nm UV laser driller (VISA ``TCPIP::host::5026::SOCKET``, SCPI).

One async method per command, one exchange each; setters are checked against the error
queue (``write_checked``), so a refused command raises
:class:`~drivers.errors.InstrumentCommandError` carrying the instrument's own reason.
:data:`LASER_LIMITS` gives the instrument's ranges (from its data sheet) so that a caller
can refuse bad parameters before anything reaches the laser.

    async with UvLaser("TCPIP::127.0.0.1::5026::SOCKET") as laser:
        print(await laser.interlocks())
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from drivers.errors import ProtocolError
from drivers.link import InstrumentLink
from drivers.scpi import ScpiInstrument, parse_floats
from drivers.transport.base import Transport
from drivers.transport.factory import make_transport

JobState = Literal["IDLE", "LOADED", "RUNNING", "DONE", "ABORTED", "FAULT"]
JOB_STATES: frozenset[str] = frozenset(get_args(JobState))


@dataclass(frozen=True)
class LaserLimits:
    """What the laser accepts (inclusive ranges) and its one wavelength."""

    wavelength_nm: float = 355.0
    power_w: tuple[float, float] = (0.0, 8.0)
    pulse_frequency_hz: tuple[float, float] = (1_000.0, 100_000.0)
    diameter_um: tuple[float, float] = (10.0, 200.0)
    hole_rate_hz: tuple[float, float] = (1.0, 1_000.0)
    hole_count: tuple[int, int] = (1, 100_000)
    job_name_max_chars: int = 64


LASER_LIMITS = LaserLimits()


@dataclass(frozen=True)
class Interlocks:
    """The laser's safety chain: door, enclosure and chiller (``STAT:INTL?``)."""

    door_closed: bool
    enclosure_closed: bool
    chiller_ok: bool

    @property
    def all_clear(self) -> bool:
        """True when every interlock permits emission."""
        return self.door_closed and self.enclosure_closed and self.chiller_ok

    def open_names(self) -> list[str]:
        """The interlocks that forbid emission now (``door``, ``enclosure``, ``chiller``)."""
        names = []
        if not self.door_closed:
            names.append("door")
        if not self.enclosure_closed:
            names.append("enclosure")
        if not self.chiller_ok:
            names.append("chiller")
        return names


@dataclass(frozen=True)
class JobStatus:
    """``JOB:STAT?``: the job's state and how many holes it has drilled."""

    state: JobState
    holes_done: int

    @property
    def finished(self) -> bool:
        """True once the job will drill no more holes."""
        return self.state in {"DONE", "ABORTED", "FAULT"}


@dataclass(frozen=True)
class HoleResult:
    """``JOB:RES? i``: inspection of one hole (top and bottom diameter, dross)."""

    index: int
    top_um: float
    bottom_um: float
    dross: bool

    @property
    def opened(self) -> bool:
        """True when the hole goes through (a bottom diameter exists)."""
        return self.bottom_um > 0.0

    @property
    def taper(self) -> float:
        """Bottom/top diameter ratio (0 for a hole that did not open)."""
        return self.bottom_um / self.top_um if self.top_um > 0 else 0.0


_INTERLOCK_STATES = {
    "DOOR": {"CLOSED": True, "OPEN": False},
    "ENCL": {"CLOSED": True, "OPEN": False},
    "CHILLER": {"OK": True, "ALARM": False},
}


def parse_interlocks(reply: str, *, resource: str | None = None) -> Interlocks:
    """Parse ``DOOR=CLOSED,ENCL=CLOSED,CHILLER=OK`` (any order, all three required)."""
    found: dict[str, bool] = {}
    for part in reply.strip().split(","):
        key, sep, value = part.strip().upper().partition("=")
        states = _INTERLOCK_STATES.get(key)
        if not sep or states is None or value not in states or key in found:
            raise ProtocolError("malformed STAT:INTL? reply", reply=reply, resource=resource)
        found[key] = states[value]
    if set(found) != set(_INTERLOCK_STATES):
        raise ProtocolError("STAT:INTL? reply lacks an interlock", reply=reply, resource=resource)
    return Interlocks(found["DOOR"], found["ENCL"], found["CHILLER"])


def parse_job_status(reply: str, *, resource: str | None = None) -> JobStatus:
    """Parse ``RUNNING,123``."""
    state, sep, count = reply.strip().upper().partition(",")
    if not sep or state not in JOB_STATES or not count.strip().isdigit():
        raise ProtocolError("malformed JOB:STAT? reply", reply=reply, resource=resource)
    return JobStatus(state, int(count))  # type: ignore[arg-type]  # checked against JOB_STATES


def parse_hole_result(index: int, reply: str, *, resource: str | None = None) -> HoleResult:
    """Parse ``top_um,bottom_um,dross`` (dross 0 or 1)."""
    top_um, bottom_um, dross = parse_floats(reply, 3, resource=resource)
    if dross not in (0.0, 1.0) or top_um < 0 or bottom_um < 0:
        raise ProtocolError("malformed JOB:RES? reply", reply=reply, resource=resource)
    return HoleResult(index, top_um, bottom_um, dross == 1.0)


def _on_off(reply: str, on: str, off: str, *, what: str, resource: str) -> bool:
    text = reply.strip().upper()
    if text == on:
        return True
    if text == off:
        return False
    raise ProtocolError(f"malformed {what} reply", reply=reply, resource=resource)


class UvLaser(InstrumentLink, ScpiInstrument):
    """The UV laser driller: key, interlocks, shutter, source settings and jobs."""

    limits = LASER_LIMITS

    def __init__(
        self, resource: str, timeout_s: float = 2.0, transport: Transport | None = None
    ) -> None:
        super().__init__(transport or make_transport(resource, timeout_s))

    # -- safety chain --------------------------------------------------------------------
    async def key_on(self) -> bool:
        """Get whether the key switch is on (``KEY?``)."""
        return _on_off(await self.query("KEY?"), "ON", "OFF", what="KEY?", resource=self.resource)

    async def interlocks(self) -> Interlocks:
        """Get the door, enclosure and chiller interlocks (``STAT:INTL?``)."""
        return parse_interlocks(await self.query("STAT:INTL?"), resource=self.resource)

    async def open_shutter(self) -> None:
        """Open the shutter; refused (error -221) with the key off or an interlock open."""
        await self.write_checked("SHUT OPEN")

    async def close_shutter(self) -> None:
        """Close the shutter."""
        await self.write_checked("SHUT CLOSE")

    async def shutter_open(self) -> bool:
        """Get whether the shutter is open (``SHUT?``)."""
        reply = await self.query("SHUT?")
        return _on_off(reply, "OPEN", "CLOSED", what="SHUT?", resource=self.resource)

    # -- source --------------------------------------------------------------------------
    async def set_pulse_frequency_hz(self, frequency_hz: float) -> None:
        """Set the Q-switch pulse repetition rate."""
        await self.write_checked(f"PULS:FREQ {frequency_hz:g}")

    async def pulse_frequency_hz(self) -> float:
        """Get the pulse repetition rate."""
        return await self.query_float("PULS:FREQ?")

    async def set_power_w(self, power_w: float) -> None:
        """Set the average output power."""
        await self.write_checked(f"POW:SET {power_w:.4g}")

    async def power_setpoint_w(self) -> float:
        """Get the power setpoint."""
        return await self.query_float("POW:SET?")

    async def measure_power_w(self) -> float:
        """Measure the emitted power (internal monitor)."""
        return await self.query_float("MEAS:POW?")

    # -- jobs ----------------------------------------------------------------------------
    async def load_job(self, name: str, n_holes: int, diameter_um: float, rate_hz: float) -> None:
        """Load a drilling job: ``n_holes`` holes of ``diameter_um`` at ``rate_hz`` holes/s."""
        if "," in name or "\n" in name:
            raise ValueError(f"job name {name!r} must not contain a comma or a newline")
        await self.write_checked(f"JOB:LOAD {name},{n_holes:d},{diameter_um:g},{rate_hz:g}")

    async def start_job(self) -> None:
        """Start the loaded job (the shutter must be open)."""
        await self.write_checked("JOB:START")

    async def job_status(self) -> JobStatus:
        """Get the job's state and holes drilled."""
        return parse_job_status(await self.query("JOB:STAT?"), resource=self.resource)

    async def abort_job(self) -> None:
        """Stop drilling now (the shutter stays as it is: close it too)."""
        await self.write_checked("JOB:ABOR")

    async def hole_result(self, index: int) -> HoleResult:
        """Get the inspection of hole ``index`` (0-based, below holes done)."""
        reply = await self.query(f"JOB:RES? {index:d}")
        return parse_hole_result(index, reply, resource=self.resource)
