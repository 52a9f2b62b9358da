"""VISA ``TCPIP::host::port::SOCKET`` resources: native asyncio sockets with TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket

from drivers.transport.stream import LineProtocol, StreamTransport


class TcpSocketTransport(StreamTransport):
    """A raw TCP socket instrument (SCPI over port 5025 and the like)."""

    def __init__(self, resource: str, host: str, port: int, timeout: float = 2.0) -> None:
        super().__init__(resource, timeout)
        self.host = host
        self.port = port

    async def _connect(self) -> LineProtocol:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(LineProtocol, self.host, self.port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small request/reply lines: Nagle's algorithm would add up to 40 ms per query.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return protocol
