"""Driver of the 90° peel tester (JIS C 6481) on a serial line.

One async method per command, and :meth:`PeelTester.stream`, an async iterator over what
the tester sends while it peels: :class:`PeelBegin`, :class:`PeelPoint`,
:class:`PeelFault`, :class:`GarbledLine` (a line that does not parse — yielded, not
raised, so that a capture can count and skip it) and finally :class:`PeelEnd`.

    async with PeelTester("ASRL/dev/pts/7::INSTR") as tester:
        await tester.set_width_mm(3.0)
        await tester.zero()
        await tester.load_specimen("EX1-2026-001-A1")
        await tester.start()
        async for item in tester.stream():
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from drivers.errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)
from drivers.link import InstrumentLink
from drivers.peel_stream import (
    END_REASONS,
    STREAM_PREFIXES,
    ChunkItem,
    GarbledLine,
    PeelBegin,
    PeelEnd,
    PeelFault,
    PeelPoint,
    PeelPoints,
    StreamItem,
    parse_chunk,
    parse_err,
    parse_stream_line,
)
from drivers.transport.base import Transport
from drivers.transport.factory import make_transport


@dataclass(frozen=True, slots=True)
class PeelTesterIdentity:
    """The tester's ``ID?`` reply."""

    maker: str
    model: str
    serial: str
    firmware: str

    def __str__(self) -> str:
        return f"{self.maker},{self.model},{self.serial},{self.firmware}"


class PeelTester(InstrumentLink):
    """A 90° peel tester on a serial port (``ASRL…::INSTR``, a device path, or VISA)."""

    def __init__(
        self,
        resource: str | Transport,
        timeout: float = 2.0,
        baudrate: int = 19200,
    ) -> None:
        if isinstance(resource, Transport):
            self.transport = resource
        else:
            self.transport = make_transport(resource, timeout, baudrate)
        #: The id given in the last ``LOAD`` this driver sent (what the clamp holds).
        self.loaded_specimen_id: str | None = None
        self.peeling = False

    async def reconnect(self) -> None:
        """Close and reopen the link (after a drop, a stable port name comes back)."""
        self.peeling = False
        await super().reconnect()

    # -- one exchange each ---------------------------------------------------------------
    async def _command(self, line: str) -> None:
        """Send a setter and expect ``OK``.

        Stream lines still arriving from a peel that was stopped are skipped.
        """
        async with self.transport.lock:
            await self.transport.write_line(line)
            reply = await self.transport.read_line()
            while reply.startswith(STREAM_PREFIXES):
                reply = await self.transport.read_line()
        if reply == "OK":
            return
        fault = parse_err(reply)
        if fault is not None:
            raise InstrumentCommandError(
                fault.code, fault.text, command=line, resource=self.resource
            )
        raise ProtocolError(f"expected OK to {line!r}", reply=reply, resource=self.resource)

    async def identify(self) -> PeelTesterIdentity:
        """Get the tester's identity (``ID?``)."""
        reply = await self.transport.query("ID?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 4 or not all(parts):
            raise ProtocolError("expected maker,model,serial,firmware", reply=reply,
                                resource=self.resource)
        return PeelTesterIdentity(*parts)

    async def set_width_mm(self, width_mm: float) -> None:
        """Set the strip width, mm."""
        await self._command(f"WIDTH {width_mm:g}")

    async def set_speed_mm_per_min(self, speed_mm_per_min: float) -> None:
        """Set the crosshead speed, mm/min."""
        await self._command(f"SPEED {speed_mm_per_min:g}")

    async def set_angle_deg(self, angle_deg: float) -> None:
        """Set the peel angle, degrees."""
        await self._command(f"ANGLE {angle_deg:g}")

    async def set_length_mm(self, length_mm: float) -> None:
        """Set the travel of one peel, mm."""
        await self._command(f"LENGTH {length_mm:g}")

    async def zero(self) -> None:
        """Tare the load cell."""
        await self._command("ZERO")

    async def load_specimen(self, specimen_id: str) -> None:
        """Tell the tester which specimen is clamped (refused for a specimen that cannot exist)."""
        if not specimen_id or any(c in specimen_id for c in " ,\n\r"):
            raise ValueError(f"specimen id must be one word without commas: {specimen_id!r}")
        await self._command(f"LOAD {specimen_id}")
        self.loaded_specimen_id = specimen_id

    async def loaded_specimen(self) -> str | None:
        """Get the id of the specimen the tester holds (``LOAD?``)."""
        reply = (await self.transport.query("LOAD?")).strip()
        return None if reply in {"NONE", ""} else reply

    async def start(self) -> None:
        """Start peeling; then read :meth:`stream`."""
        await self._command("START")
        self.peeling = True

    async def stop(self) -> None:
        """Stop: during a peel the stream ends with ``END,STOPPED``; otherwise ``OK``."""
        if self.peeling:
            await self.transport.write("STOP")
        else:
            await self._command("STOP")

    # -- the stream ----------------------------------------------------------------------
    async def stream_chunks(self, idle_timeout_s: float = 5.0) -> AsyncIterator[list[ChunkItem]]:
        """What the tester sends, in the chunks it arrives in, until :class:`PeelEnd`.

        Points come as :class:`PeelPoints` runs; a line that does not parse is a
        :class:`GarbledLine`. No line for ``idle_timeout_s`` real seconds raises
        :class:`InstrumentTimeout`; a lost link raises
        :class:`~drivers.errors.InstrumentConnectionError`. Lines after the end line in
        the same chunk are dropped (the tester sends nothing after a peel until told).
        """
        self.peeling = True
        try:
            while True:
                try:
                    raw = await self.transport.read_lines(idle_timeout_s)
                except ProtocolError as exc:
                    if not self.transport.is_open:
                        raise
                    # The transport refused a line of line noise but stayed in step.
                    yield [GarbledLine(exc.reply or "")]
                    continue
                items = parse_chunk(raw)
                for i, item in enumerate(items):
                    if isinstance(item, PeelEnd):
                        self.peeling = False
                        yield items[: i + 1]
                        return
                if items:
                    yield items
        except InstrumentError:
            self.peeling = False
            raise
        # A reader that stops early (cancelled) leaves `peeling` set: the tester is still
        # streaming, so `stop()` sends STOP without waiting for an OK.

    async def stream(self, idle_timeout_s: float = 5.0) -> AsyncIterator[StreamItem]:
        """What the tester sends, one item at a time, until :class:`PeelEnd` (see
        :meth:`stream_chunks`, which a fast consumer should prefer)."""
        async for chunk in self.stream_chunks(idle_timeout_s):
            for item in chunk:
                if isinstance(item, PeelPoints):
                    for x, f in zip(item.mm, item.n, strict=True):
                        yield PeelPoint(x, f)
                else:
                    yield item

    async def wait_for_start(self, timeout_s: float | None = None) -> PeelBegin | PeelPoint:
        """Wait until the tester starts peeling on its own (its front-panel START).

        Returns the first item of the stream (its ``BEGIN`` header, or the first point of
        a tester that sends none); stray lines before it are skipped. With no
        ``timeout_s`` it waits until cancelled.
        """
        while True:
            try:
                line = await self.transport.read_line(1e9 if timeout_s is None else timeout_s)
            except ProtocolError:
                if not self.transport.is_open:
                    raise
                continue
            item = parse_stream_line(line)
            if isinstance(item, PeelBegin | PeelPoint):
                self.peeling = True
                return item


__all__ = [
    "END_REASONS",
    "ChunkItem",
    "GarbledLine",
    "InstrumentTimeout",
    "PeelBegin",
    "PeelEnd",
    "PeelFault",
    "PeelPoint",
    "PeelPoints",
    "PeelTester",
    "PeelTesterIdentity",
    "StreamItem",
    "parse_chunk",
    "parse_err",
    "parse_stream_line",
]
