"""Serial ports (``ASRL…::INSTR`` or a device path) over pyserial-asyncio-fast, opened
exclusively: ``flock`` on the device (pyserial's ``exclusive=True``) and a UUCP lock file
(:mod:`drivers.transport.serial_lock`), so one port has one controller."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import serial
import serial_asyncio_fast

from drivers.transport import serial_lock
from drivers.transport.stream import LineProtocol, StreamTransport


class SerialTransport(StreamTransport):
    """An RS-232 instrument, 8N1 at the given baud rate (a pseudo-terminal in simulation).

    ``device`` may be a stable symlink (``/dev/serial/by-id/…``): it is resolved again on
    every open, so a reconnect finds a port that came back under a new ``ttyUSBn``.
    ``lock_dir`` is where the UUCP lock goes (default: ``$LAMINA_LOCK_DIR``, else
    ``/run/lock`` or ``/var/lock``); a port locked by a live process raises
    :class:`drivers.transport.serial_lock.SerialPortLocked` naming its pid.
    """

    def __init__(
        self, resource: str, device: str, baudrate: int = 9600, timeout: float = 2.0,
        *, lock_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(resource, timeout)
        self.device = device
        self.baudrate = baudrate
        self.lock_dir = lock_dir
        self.lock_file: Path | None = None
        self._previous: LineProtocol | None = None

    async def _connect(self) -> LineProtocol:
        loop = asyncio.get_running_loop()
        previous, self._previous = self._previous, None
        if previous is not None and not previous.closed.done():
            # A link dropped on a timeout is closed without waiting; its descriptor (and
            # flock) goes on the next loop turns. Reopening before would meet our own lock.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(previous.closed), 1.0)
        lock = serial_lock.acquire(self.device, self, directory=self.lock_dir,
                                   resource=self.resource)
        if self.lock_file is not None and self.lock_file != lock:
            serial_lock.release(self.lock_file, self)  # the link now resolves elsewhere
        self.lock_file = lock
        try:
            _, protocol = await serial_asyncio_fast.create_serial_connection(
                loop, LineProtocol, self.device, baudrate=self.baudrate, exclusive=True
            )
        except serial.SerialException as exc:
            self._unlock()
            raise OSError(str(exc)) from exc
        except BaseException:
            self._unlock()
            raise
        assert isinstance(protocol, LineProtocol)
        self._previous = protocol
        return protocol

    def _unlock(self) -> None:
        if self.lock_file is not None:
            serial_lock.release(self.lock_file, self)
            self.lock_file = None

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._unlock()
