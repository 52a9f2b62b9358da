"""Put a simulated instrument on the wire: a TCP socket server (VISA ``SOCKET``) or a
pseudo-terminal (serial, VISA ``ASRL…::INSTR``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import termios
import tty
from pathlib import Path

from simulators.framework import SimInstrument, garble

log = logging.getLogger(__name__)


def _apply(instrument: SimInstrument, line: str) -> str | None:
    """Run one line through the instrument, honouring stall and garble faults."""
    if instrument.faults.stalled and not line.strip().upper().startswith("SIM:"):
        return None  # a hung instrument swallows what it is sent
    reply = instrument.handle(line)
    if reply is not None and instrument.faults.garble_next > 0:
        instrument.faults.garble_next -= 1
        reply = garble(reply)
    return reply


class TcpServer:
    """Serves one instrument on ``host:port``; every client shares the instrument's state."""

    def __init__(self, instrument: SimInstrument, host: str = "127.0.0.1", port: int = 0) -> None:
        self.instrument = instrument
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._drop_task: asyncio.Task[None] | None = None

    @property
    def resource(self) -> str:
        """The VISA resource string clients connect to."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    async def start(self) -> str:
        """Listen and return the resource string."""
        self.instrument.start()
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._drop_task = asyncio.get_running_loop().create_task(self._watch_drop())
        return self.resource

    async def _watch_drop(self) -> None:
        while True:
            await self.instrument.faults.drop_requested.wait()
            self.instrument.faults.drop_requested.clear()
            self.drop_clients()

    def drop_clients(self) -> None:
        """Close every client link now (the cable was pulled)."""
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                if sock is not None:
                    # RST rather than FIN: the client sees the link die, not a polite close.
                    linger_zero = struct.pack("ii", 1, 0)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writers.add(writer)

        def unsolicited(line: str) -> None:
            if not writer.is_closing():
                writer.write(line.encode("ascii", errors="replace") + b"\n")

        self.instrument.add_listener(unsolicited)
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    break  # partial line at EOF: the client went away mid-command
                line = raw.decode("ascii", errors="replace")
                reply = _apply(self.instrument, line)
                if reply is not None and not writer.is_closing():
                    writer.write(reply.encode("ascii", errors="replace") + b"\n")
        except (ConnectionError, OSError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.instrument.remove_listener(unsolicited)
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        """Stop listening, drop clients, stop the physics."""
        if self._drop_task is not None:
            self._drop_task.cancel()
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        await self.instrument.stop()


class PtyServer:
    """Serves one instrument on a pseudo-terminal, like a device on a serial cable.

    ``link`` (optional) is a stable symlink to the pty, like a udev ``/dev/serial/by-id``
    name; a ``drop`` fault closes the pty and makes a new one behind the same link, so a
    client sees its port vanish and can reopen it by the same name.
    """

    def __init__(self, instrument: SimInstrument, link: str | Path | None = None) -> None:
        self.instrument = instrument
        self.link = Path(link) if link else None
        self.device: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._flush_due = False
        self._drop_task: asyncio.Task[None] | None = None
        self.bytes_dropped = 0

    @property
    def is_open(self) -> bool:
        """True while a pty is there to be opened (false from a ``drop`` until the new one)."""
        return self._master is not None

    @property
    def resource(self) -> str:
        """The VISA resource string clients open (the link when there is one)."""
        path = str(self.link) if self.link else self.device
        return f"ASRL{path}::INSTR"

    async def start(self) -> str:
        """Create the pty and return the resource string."""
        self.instrument.start()
        self._open_pty()
        self.instrument.add_listener(self._send)
        self._drop_task = asyncio.get_running_loop().create_task(self._watch_drop())
        return self.resource

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.device = os.ttyname(slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.device)
            tmp.replace(self.link)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _close_pty(self) -> None:
        loop = asyncio.get_running_loop()
        if self._master is not None:
            loop.remove_reader(self._master)
            loop.remove_writer(self._master)
            with contextlib.suppress(OSError):
                os.close(self._master)
        if self._slave is not None:
            with contextlib.suppress(OSError):
                os.close(self._slave)
        self._master = self._slave = None
        self._inbuf.clear()
        self._outbuf.clear()

    async def _watch_drop(self) -> None:
        while True:
            await self.instrument.faults.drop_requested.wait()
            self.instrument.faults.drop_requested.clear()
            self._close_pty()
            await asyncio.sleep(0.05)
            self._open_pty()

    def _readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            return
        self._inbuf.extend(data)
        while True:
            idx = self._inbuf.find(b"\n")
            if idx < 0:
                if len(self._inbuf) > 65536:
                    self._inbuf.clear()
                break
            raw = bytes(self._inbuf[: idx + 1])
            del self._inbuf[: idx + 1]
            line = raw.decode("ascii", errors="replace").rstrip("\r\n")
            try:
                reply = _apply(self.instrument, line)
            except Exception:
                log.exception("simulator failed on %r", line)
                continue
            if reply is not None:
                self._send(reply)

    def _send(self, line: str) -> None:
        if self._master is None:
            return
        self._outbuf.extend(line.encode("ascii", errors="replace") + b"\n")
        if len(self._outbuf) > 1 << 20:
            # Nobody is reading: a real instrument's UART just loses what it sends.
            self.bytes_dropped += len(self._outbuf)
            self._outbuf.clear()
            return
        # One write for everything sent in this turn of the loop (a peel tester emits a
        # tick's worth of samples at once): the same bytes, one system call, as a UART's
        # FIFO would carry them.
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        try:
            written = os.write(self._master, self._outbuf)
            del self._outbuf[:written]
        except BlockingIOError:
            pass
        except OSError:
            self._outbuf.clear()
        if self._outbuf:
            loop.add_writer(self._master, self._flush)
        else:
            loop.remove_writer(self._master)

    async def stop(self) -> None:
        """Close the pty, remove the link, stop the physics."""
        if self._drop_task is not None:
            self._drop_task.cancel()
        self.instrument.remove_listener(self._send)
        self._close_pty()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        await self.instrument.stop()
