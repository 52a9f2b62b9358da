"""The transport interface every driver uses (the native implementation shared by the
TCP socket and serial transports is in ``drivers.transport.stream``)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from types import TracebackType

from drivers.errors import ProtocolError

DEFAULT_TIMEOUT_S = 2.0
MAX_LINE_BYTES = 1 << 20

# Our instruments answer in printable ASCII; control characters or bytes ≥ 0x7F in a reply
# mean line noise (or a talker at the wrong baud rate), never data.
_CONTROL = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])


def decode_line(raw: bytes, resource: str | None = None) -> str:
    """A received line as text without its terminator; garbage raises :class:`ProtocolError`.

    The whole line has been consumed, so the link stays in step and usable.
    """
    line = raw.rstrip(b"\r\n")
    # Two C-speed checks instead of a regex: this runs once per reply on the hot path.
    if not line.isascii() or len(line.translate(None, _CONTROL)) != len(line):
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

    async def read_reply(self, timeout: float | None = None) -> str:
        """Receive the reply owed to a command just sent (call it holding ``lock``).

        Unlike :meth:`read_line`, if the caller is cancelled while waiting (an operator
        abort), the reply that arrives later is discarded instead of being taken as the
        answer to the next query, so the link stays usable for the safe-state commands.
        """
        return await self.read_line(timeout)

    async def query(self, line: str, timeout: float | None = None) -> str:
        """Send ``line`` and return the one-line reply."""
        async with self.lock:
            await self.write_line(line)
            return await self.read_reply(timeout)

    async def write(self, line: str) -> None:
        """Send ``line`` under the query lock (a command with no reply)."""
        async with self.lock:
            await self.write_line(line)

    async def read_lines(self, timeout: float | None = None) -> list[bytes]:
        """Every line already received, raw with its terminator; waits up to ``timeout``
        for the first. For instruments that stream many lines (a peel tester at 100 Hz),
        so the reader handles them in bulk. This default reads one line at a time;
        a line of garbage raises :class:`ProtocolError` like :meth:`read_line`."""
        return [(await self.read_line(timeout)).encode("ascii") + b"\n"]

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
