"""Serial ports (``ASRL…::INSTR`` or a device path) over pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio

import serial
import serial_asyncio_fast

from drivers.transport.stream import LineProtocol, StreamTransport


class SerialTransport(StreamTransport):
    """An RS-232 instrument, 8N1 at the given baud rate (a pseudo-terminal in simulation).

    ``device`` may be a stable symlink (``/dev/serial/by-id/…``): it is resolved again on
    every open, so a reconnect finds a port that came back under a new ``ttyUSBn``.
    """

    def __init__(
        self, resource: str, device: str, baudrate: int = 9600, timeout: float = 2.0
    ) -> None:
        super().__init__(resource, timeout)
        self.device = device
        self.baudrate = baudrate

    async def _connect(self) -> LineProtocol:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await serial_asyncio_fast.create_serial_connection(
                loop, LineProtocol, self.device, baudrate=self.baudrate
            )
        except serial.SerialException as exc:
            raise OSError(str(exc)) from exc
        assert isinstance(protocol, LineProtocol)
        return protocol
