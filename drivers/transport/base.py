"""The transport interface every driver uses, and the asyncio-streams implementation
shared by the TCP socket and serial transports."""

from __future__ import annotations

import asyncio
import contextlib
import re
from abc import ABC, abstractmethod
from types import TracebackType

from drivers.errors import InstrumentConnectionError, InstrumentTimeout, ProtocolError

DEFAULT_TIMEOUT_S = 2.0
MAX_LINE_BYTES = 1 << 20

# Our instruments answer in printable ASCII; control characters or bytes ≥ 0x7F in a reply
# mean line noise (or a talker at the wrong baud rate), never data.
_GARBAGE = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f-\xff]")


def decode_line(raw: bytes, resource: str | None = None) -> str:
    """A received line as text without its terminator; garbage raises :class:`ProtocolError`.

    The whole line has been consumed, so the link stays in step and usable.
    """
    line = raw.rstrip(b"\r\n")
    if _GARBAGE.search(line):
        text = line.decode("ascii", errors="backslashreplace")
        raise ProtocolError("garbled reply (non-printable bytes)", reply=text, resource=resource)
    return line.decode("ascii")


class Transport(ABC):
    """Moves ``\\n``-terminated ASCII lines to and from one instrument.

    ``query`` holds a lock, so that concurrent tasks sharing one instrument never get
    each other's replies. Timeouts and lost links raise typed errors and leave the
    transport closed; ``reconnect()`` opens it again without restarting anything.
    """

    def __init__(self, resource: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.resource = resource
        self.timeout = timeout
        self.lock = asyncio.Lock()

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """True while the link is up."""

    @abstractmethod
    async def open(self) -> None:
        """Open the link."""

    @abstractmethod
    async def close(self) -> None:
        """Close the link; closing a closed transport does nothing."""

    @abstractmethod
    async def write_line(self, line: str) -> None:
        """Send one line (the terminator is added)."""

    @abstractmethod
    async def read_line(self, timeout: float | None = None) -> str:
        """Receive one line, without its terminator."""

    async def query(self, line: str, timeout: float | None = None) -> str:
        """Send ``line`` and return the one-line reply."""
        async with self.lock:
            await self.write_line(line)
            return await self.read_line(timeout)

    async def write(self, line: str) -> None:
        """Send ``line`` under the query lock (a command with no reply)."""
        async with self.lock:
            await self.write_line(line)

    async def reconnect(self) -> None:
        """Close and open again."""
        await self.close()
        await self.open()

    async def __aenter__(self) -> Transport:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class StreamTransport(Transport):
    """A transport over an asyncio ``StreamReader``/``StreamWriter`` pair."""

    def __init__(self, resource: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(resource, timeout)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @abstractmethod
    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the underlying stream."""

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        if self.is_open:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(self._connect(), self.timeout)
        except (OSError, TimeoutError) as exc:
            raise InstrumentConnectionError(
                f"cannot open: {exc or type(exc).__name__}", resource=self.resource
            ) from exc

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _require_open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            raise InstrumentConnectionError("link is not open", resource=self.resource)
        return self._reader, self._writer

    async def write_line(self, line: str) -> None:
        _, writer = self._require_open()
        try:
            writer.write(line.encode("ascii", errors="replace") + b"\n")
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
        except (OSError, RuntimeError) as exc:
            await self.close()
            raise InstrumentConnectionError(f"write failed: {exc}", resource=self.resource) from exc

    async def read_line(self, timeout: float | None = None) -> str:
        reader, _ = self._require_open()
        wait = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                raw = await reader.readuntil(b"\n")
        except TimeoutError as exc:
            await self.close()
            raise InstrumentTimeout(
                f"no reply within {wait:g} s", resource=self.resource
            ) from exc
        except asyncio.IncompleteReadError as exc:
            await self.close()
            partial = exc.partial.decode("ascii", errors="backslashreplace")
            detail = f" (partial line {partial!r})" if partial else ""
            raise InstrumentConnectionError(
                f"link closed by the instrument{detail}", resource=self.resource
            ) from exc
        except asyncio.LimitOverrunError as exc:
            await self.close()
            raise ProtocolError("reply line too long", resource=self.resource) from exc
        except (OSError, RuntimeError) as exc:
            await self.close()
            raise InstrumentConnectionError(f"read failed: {exc}", resource=self.resource) from exc
        return decode_line(raw, self.resource)

    async def query(self, line: str, timeout: float | None = None) -> str:
        """Send ``line`` and return the one-line reply (one lock, one timeout scope)."""
        async with self.lock:
            _, writer = self._require_open()
            try:
                writer.write(line.encode("ascii", errors="replace") + b"\n")
            except (OSError, RuntimeError) as exc:
                await self.close()
                raise InstrumentConnectionError(
                    f"write failed: {exc}", resource=self.resource
                ) from exc
            return await self.read_line(timeout)
