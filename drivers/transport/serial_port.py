"""Serial ports (``ASRL…::INSTR`` or a device path) over pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio

import serial_asyncio_fast

from drivers.transport.base import MAX_LINE_BYTES, StreamTransport


class SerialTransport(StreamTransport):
    """An RS-232 instrument, 8N1 at the given baud rate (a pseudo-terminal in simulation)."""

    def __init__(
        self, resource: str, device: str, baudrate: int = 9600, timeout: float = 2.0
    ) -> None:
        super().__init__(resource, timeout)
        self.device = device
        self.baudrate = baudrate

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=self.device, baudrate=self.baudrate, limit=MAX_LINE_BYTES
        )
        return reader, writer
