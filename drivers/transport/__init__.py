"""Line transports addressed by VISA resource strings.

``TCPIP::host::port::SOCKET`` and ``ASRL<port>::INSTR`` (or a plain serial port path)
are served by native asyncio transports; every other VISA resource goes through pyvisa
with its blocking calls in one worker thread per resource. Drivers see one interface,
:class:`~drivers.transport.base.Transport`, and never know which.
"""

from drivers.transport.base import Transport
from drivers.transport.factory import make_transport, open_transport
from drivers.transport.resource import Resource, parse_resource

__all__ = ["Resource", "Transport", "make_transport", "open_transport", "parse_resource"]
