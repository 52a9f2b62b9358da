"""Simulators on real sockets and pseudo-terminals for the transport tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import PtyServer, TcpServer


@pytest.fixture
async def tcp_press() -> AsyncIterator[TcpServer]:
    server = TcpServer(PressSimulator(Clock(scale=600), seed=2), "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def pty_press(tmp_path: Path) -> AsyncIterator[PtyServer]:
    """The press's protocol on a pseudo-terminal behind a stable symlink."""
    server = PtyServer(PressSimulator(Clock(scale=600), seed=3), link=tmp_path / "press-tty")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
