"""VISA ``TCPIP::host::port::SOCKET`` resources over asyncio streams with TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket

from drivers.transport.base import MAX_LINE_BYTES, StreamTransport


class TcpSocketTransport(StreamTransport):
    """A raw TCP socket instrument (SCPI over port 5025 and the like)."""

    def __init__(self, resource: str, host: str, port: int, timeout: float = 2.0) -> None:
        super().__init__(resource, timeout)
        self.host = host
        self.port = port

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE_BYTES)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Small request/reply lines: Nagle's algorithm would add up to 40 ms per query.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer
