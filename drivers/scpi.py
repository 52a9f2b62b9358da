"""SCPI over a line transport: commands, queries, number parsing and the error queue."""

from __future__ import annotations

import re

from drivers.errors import InstrumentCommandError, ProtocolError
from drivers.transport.base import Transport

_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"(.*)"\s*$')


def parse_float(reply: str, *, resource: str | None = None) -> float:
    """A reply that must be one number."""
    try:
        return float(reply.strip())
    except ValueError:
        raise ProtocolError("expected a number", reply=reply, resource=resource) from None


def parse_floats(
    reply: str, count: int | None = None, *, resource: str | None = None
) -> list[float]:
    """A comma-separated list of numbers, optionally of an exact length."""
    parts = [p.strip() for p in reply.split(",")]
    if count is not None and len(parts) != count:
        raise ProtocolError(f"expected {count} comma-separated values, got {len(parts)}",
                            reply=reply, resource=resource)
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ProtocolError("expected numbers", reply=reply, resource=resource) from None


def parse_bool(reply: str, *, resource: str | None = None) -> bool:
    """``1``/``0``/``ON``/``OFF`` as a boolean."""
    text = reply.strip().upper()
    if text in {"1", "ON", "TRUE"}:
        return True
    if text in {"0", "OFF", "FALSE"}:
        return False
    raise ProtocolError("expected 1/0 or ON/OFF", reply=reply, resource=resource)


def parse_error(reply: str, *, resource: str | None = None) -> tuple[int, str]:
    """A ``SYST:ERR?`` reply: ``code,"text"``."""
    m = _ERROR.match(reply)
    if not m:
        raise ProtocolError("malformed SYST:ERR? reply", reply=reply, resource=resource)
    return int(m[1]), m[2]


class ScpiInstrument:
    """An instrument that speaks SCPI over a :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def resource(self) -> str:
        """The instrument's address."""
        return self.transport.resource

    async def write(self, command: str) -> None:
        """Send a command that has no reply."""
        await self.transport.write(command)

    async def query(self, command: str) -> str:
        """Send a query and return its reply line."""
        return await self.transport.query(command)

    async def query_float(self, command: str) -> float:
        """A query whose reply is one number."""
        return parse_float(await self.query(command), resource=self.resource)

    async def query_floats(self, command: str, count: int | None = None) -> list[float]:
        """A query whose reply is a list of numbers."""
        return parse_floats(await self.query(command), count, resource=self.resource)

    async def next_error(self) -> tuple[int, str]:
        """Pop one entry of the error queue (``0,"No error"`` when empty)."""
        return parse_error(await self.query("SYST:ERR?"), resource=self.resource)

    async def errors(self, limit: int = 32) -> list[tuple[int, str]]:
        """Drain the error queue."""
        found: list[tuple[int, str]] = []
        for _ in range(limit):
            code, text = await self.next_error()
            if code == 0:
                break
            found.append((code, text))
        return found

    async def write_checked(self, command: str) -> None:
        """Send a command, then read the error queue and raise the first error it holds."""
        async with self.transport.lock:
            await self.transport.write_line(command)
            await self.transport.write_line("SYST:ERR?")
            reply = await self.transport.read_reply()
        code, text = parse_error(reply, resource=self.resource)
        if code != 0:
            raise InstrumentCommandError(code, text, command=command, resource=self.resource)

    async def identify(self) -> str:
        """The ``*IDN?`` string."""
        return (await self.query("*IDN?")).strip()
