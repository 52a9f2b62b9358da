"""Choose the transport that serves a resource string."""

from __future__ import annotations

from drivers.transport.base import DEFAULT_TIMEOUT_S, Transport
from drivers.transport.resource import parse_resource
from drivers.transport.serial_port import SerialTransport
from drivers.transport.tcp import TcpSocketTransport
from drivers.transport.visa_thread import PyVisaTransport


def make_transport(
    resource: str, timeout: float = DEFAULT_TIMEOUT_S, baudrate: int = 9600
) -> Transport:
    """A closed transport for ``resource`` (call ``open()`` or use ``async with``)."""
    parsed = parse_resource(resource)
    if parsed.kind == "tcp":
        assert parsed.host is not None and parsed.port is not None
        return TcpSocketTransport(parsed.text, parsed.host, parsed.port, timeout)
    if parsed.kind == "serial":
        assert parsed.device is not None
        return SerialTransport(parsed.text, parsed.device, baudrate, timeout)
    return PyVisaTransport(parsed.text, timeout)


async def open_transport(
    resource: str, timeout: float = DEFAULT_TIMEOUT_S, baudrate: int = 9600
) -> Transport:
    """An open transport for ``resource``."""
    transport = make_transport(resource, timeout, baudrate)
    await transport.open()
    return transport
