"""Serving a station's app with uvicorn on a socket bound (and listening) beforehand.

Shared by ``daq run`` and the in-process station of a CLI command
(:mod:`daq.api.local`): the socket listens before anyone is told the URL, so a client
that connects at once waits in the backlog instead of being refused; uvicorn leaves
SIGINT/SIGTERM to the command that owns the process.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) and listening.

    Made with ``IPPROTO_TCP`` and ``TCP_NODELAY``, which the connections it accepts
    inherit: asyncio turns Nagle's algorithm off only on sockets whose protocol says TCP,
    and a socket made with protocol 0 left it on, so each response's second write waited
    for the client's delayed ACK: 44 ms a request on a kept-alive connection (issue 16).

    ``OSError`` (address in use, no such address) is the caller's to explain."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    """``http://host:port`` of a bound socket."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the command owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
