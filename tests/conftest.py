"""Fixtures shared by the whole suite. Areas keep their own in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import socket

import pytest

from daq.bus import Bus
from daq.clock import SimClock

#: Set by scripts/test (and so CI): a missing service is a failure, never a skip.
REQUIRE_SERVICES = (
    os.environ.get("LAMINA_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)


def port_open(host: str, port: int) -> bool:
    """True if something accepts TCP connections at host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def need_service(host: str, port: int, what: str) -> None:
    """Fail (under scripts/test and CI) or skip (a bare local pytest) if a service is down."""
    if port_open(host, port):
        return
    message = f"{what} is not running at {host}:{port} (scripts/services starts it)"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def fast_clock() -> SimClock:
    """Simulated time at 600× (a 20-minute dwell takes 2 s)."""
    return SimClock(scale=600)
