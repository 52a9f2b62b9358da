"""Driver of the aging oven (serial line protocol, or VISA ``ASRL…::INSTR``).

Each method does one exchange and returns a typed result. The oven answers errors with
``ERR,<code>,<text>`` lines, which become :class:`drivers.errors.InstrumentCommandError`
(:class:`OvenSensorFault` for a broken thermocouple). ``log_page`` reads the oven's own
recorded history, so that a client that was away can back-fill what it missed::

    async with AgingOven("ASRL/tmp/lamina-sim-oven::INSTR") as oven:
        await oven.set_setpoint_c(150)
        rows = await oven.log_since(start_ts)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.errors import InstrumentCommandError, ProtocolError
from drivers.link import InstrumentLink
from drivers.oven import Oven
from drivers.transport import make_transport
from drivers.transport.base import Transport

SETPOINT_MIN_C = 0.0
SETPOINT_MAX_C = 300.0
SENSOR_FAULT_CODE = 201
#: Stop paging after this many pages in one call (a runaway log must not hang a client).
MAX_PAGES = 1000


class OvenSensorFault(InstrumentCommandError):
    """The oven's thermocouple reads open: there is no process value to give."""


@dataclass(frozen=True, slots=True)
class OvenLogRow:
    """One row of the oven's history. ``pv_c`` is None when the sensor had failed."""

    ts: float
    pv_c: float | None
    sp_c: float
    door_open: bool
    alarms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OvenLogPage:
    """One ``LOG?`` reply: rows in the oven's recording order, whether more wait, and the
    lines that did not parse as rows (garbled on the line; never guessed at)."""

    rows: list[OvenLogRow]
    more: bool
    rejected: list[str]
    #: How many rows the oven said it sent (``END,<rows>,…``).
    declared: int = -1

    @property
    def intact(self) -> bool:
        """True when every row the oven sent arrived and parsed."""
        return not self.rejected and len(self.rows) == self.declared


class AgingOven(InstrumentLink, Oven):
    """An aging oven with a controller, a door switch, alarms and a data logger."""

    def __init__(
        self, resource: str, timeout: float = 2.0, baudrate: int = 9600,
        transport: Transport | None = None,
    ) -> None:
        self.transport = transport or make_transport(resource, timeout, baudrate)

    # -- one exchange each ---------------------------------------------------------------
    def _check(self, reply: str, command: str) -> str:
        text = reply.strip()
        if text.upper().startswith("ERR"):
            parts = text.split(",", 2)
            try:
                code = int(parts[1])
            except (IndexError, ValueError):
                raise ProtocolError("malformed error reply", reply=reply,
                                    resource=self.resource) from None
            message = parts[2] if len(parts) > 2 else ""
            cls = OvenSensorFault if code == SENSOR_FAULT_CODE else InstrumentCommandError
            raise cls(code, message, command=command, resource=self.resource)
        return text

    async def _ask(self, command: str) -> str:
        return self._check(await self.transport.query(command), command)

    def _number(self, reply: str, what: str) -> float:
        try:
            value = float(reply)
        except ValueError:
            raise ProtocolError(f"expected {what} as a number", reply=reply,
                                resource=self.resource) from None
        if not math.isfinite(value):
            raise ProtocolError(f"{what} is not finite", reply=reply, resource=self.resource)
        return value

    async def identify(self) -> str:
        """Get the oven's identity (``ID?``)."""
        return await self._ask("ID?")

    async def set_setpoint_c(self, setpoint_c: float) -> None:
        """Set the chamber setpoint in °C (0–300; checked here before it is sent)."""
        if not (SETPOINT_MIN_C <= setpoint_c <= SETPOINT_MAX_C) or not math.isfinite(setpoint_c):
            raise InstrumentCommandError(
                -222, f"setpoint {setpoint_c} °C outside {SETPOINT_MIN_C:g}–{SETPOINT_MAX_C:g} °C",
                command=f"SP {setpoint_c}", resource=self.resource)
        await self._expect_ok(f"SP {setpoint_c:.2f}")

    async def _expect_ok(self, command: str) -> None:
        reply = await self._ask(command)
        if reply.upper() != "OK":
            raise ProtocolError("expected OK", reply=reply, resource=self.resource)

    async def setpoint_c(self) -> float:
        """Measure nothing: get the setpoint the controller holds (``SP?``)."""
        return self._number(await self._ask("SP?"), "setpoint")

    async def process_value_c(self) -> float:
        """Measure the chamber temperature (``PV?``); raises OvenSensorFault."""
        return self._number(await self._ask("PV?"), "process value")

    async def set_running(self, running: bool) -> None:
        """Set the heater on (``MODE RUN``) or off (``MODE OFF``)."""
        await self._expect_ok("MODE RUN" if running else "MODE OFF")

    async def alarms(self) -> tuple[str, ...]:
        """Get the active alarms (empty when none)."""
        reply = await self._ask("ALM?")
        if reply.upper() == "NONE":
            return ()
        names = tuple(p.strip().upper() for p in reply.split(","))
        if not all(n.isalpha() for n in names):
            raise ProtocolError("malformed alarm list", reply=reply, resource=self.resource)
        return names

    async def door_open(self) -> bool:
        """Get the door switch: True when the door is open."""
        reply = (await self._ask("DOOR?")).upper()
        if reply not in {"OPEN", "CLOSED"}:
            raise ProtocolError("expected OPEN or CLOSED", reply=reply, resource=self.resource)
        return reply == "OPEN"

    async def log_page(self, from_ts: float) -> OvenLogPage:
        """Get one page of the oven's history recorded after ``from_ts`` (``LOG?``).

        Rows come in the oven's recording order, which is not always time order. A row
        that does not parse is returned in ``rejected``; a malformed end of the reply
        raises ProtocolError (after the whole reply was read, so the link stays in step).
        """
        command = f"LOG? {from_ts:.0f}"
        rows: list[OvenLogRow] = []
        rejected: list[str] = []
        async with self.transport.lock:
            await self.transport.write_line(command)
            while True:
                try:
                    line = (await self.transport.read_line()).strip()
                except ProtocolError as exc:  # a garbled line, consumed whole: skip it
                    rejected.append(exc.reply or "")
                    continue
                if line.startswith("END"):
                    declared, more = self._parse_end(line)
                    break
                if line.upper().startswith("ERR"):
                    self._check(line, command)
                try:
                    rows.append(self._parse_row(line))
                except ProtocolError:
                    rejected.append(line)
        return OvenLogPage(rows, more, rejected, declared)

    async def log_since(self, from_ts: float, max_pages: int = MAX_PAGES) -> list[OvenLogRow]:
        """Every row recorded after ``from_ts``, fetched page by page."""
        found: list[OvenLogRow] = []
        cursor = from_ts
        for _ in range(max_pages):
            page = await self.log_page(cursor)
            found.extend(page.rows)
            if page.rows:
                cursor = max(cursor, max(r.ts for r in page.rows))
            if not page.more or not page.rows:
                break
        return found

    def history(self) -> AgingOven:
        """This oven keeps a log of its own (:meth:`log_page`): the oven itself."""
        return self

    # -- parsing ---------------------------------------------------------------------------
    def _parse_end(self, line: str) -> tuple[int, bool]:
        parts = line.split(",")
        if len(parts) != 3 or parts[2] not in {"0", "1"} or not parts[1].isdigit():
            raise ProtocolError("malformed END of log", reply=line, resource=self.resource)
        return int(parts[1]), parts[2] == "1"

    def _parse_row(self, line: str) -> OvenLogRow:
        parts = line.split(",")
        if len(parts) != 6 or parts[0] != "L" or parts[4] not in {"0", "1"}:
            raise ProtocolError("malformed oven log row", reply=line, resource=self.resource)
        try:
            ts = float(parts[1])
            pv = float(parts[2]) if parts[2] else None
            sp = float(parts[3])
        except ValueError:
            raise ProtocolError("malformed oven log row", reply=line,
                                resource=self.resource) from None
        if not math.isfinite(ts) or (pv is not None and not math.isfinite(pv)):
            raise ProtocolError("non-finite value in oven log", reply=line,
                                resource=self.resource)
        alarms = () if parts[5] == "-" else tuple(parts[5].split("+"))
        if not all(a.isalpha() and a.isupper() for a in alarms):
            raise ProtocolError("malformed alarm field in oven log", reply=line,
                                resource=self.resource)
        return OvenLogRow(ts, pv, sp, parts[4] == "1", alarms)
