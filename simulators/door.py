"""A simulator's side door: a socket of its own, beside the instrument's wire, on which
only simulation commands (``SIM:SAMPLE``, ``SIM:FAULT`` …) are served.

The station's simulator wiring tells a simulator there what the specimen on it is made
of; the instrument's own link (the pty or socket its driver holds) never carries it.
Protocol: one ``\\n``-terminated ``SIM:`` command per line, one reply line each — the
command's reply, ``OK``, or ``ERR,<code>,<text>``. The door listens on 127.0.0.1 (any
free port) and is addressed by a VISA-style ``TCPIP::host::port::SOCKET`` string. A
simulator on a pty with a stable link (``/tmp/lamina-sim-peel``) also writes that string
to ``<link>.door``, so a client holding only the instrument's resource can find its door.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from simulators.framework import SimInstrument

DOOR_SUFFIX = ".door"


def door_file(link: Path) -> Path:
    """Where a pty simulator with the stable link ``link`` announces its door."""
    return link.with_name(link.name + DOOR_SUFFIX)


class SimulationDoor:
    """Serves one simulator's :meth:`~SimInstrument.simulate` on a TCP socket."""

    def __init__(self, instrument: SimInstrument, host: str = "127.0.0.1", port: int = 0,
                 beside: Path | None = None) -> None:
        self.instrument = instrument
        self.host = host
        self.port = port
        self.announce = door_file(beside) if beside is not None else None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def resource(self) -> str:
        """The door's address, ``TCPIP::host::port::SOCKET``."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    async def start(self) -> str:
        """Listen (and announce beside the pty link); the door's address."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.announce is not None:
            tmp = self.announce.with_name(self.announce.name + ".new")
            tmp.write_text(self.resource + "\n", encoding="ascii")
            tmp.replace(self.announce)
        return self.resource

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while raw := await reader.readline():
                line = raw.decode("ascii", errors="replace").strip()
                if line:
                    writer.write(self.instrument.simulate(line).encode("ascii", "replace") + b"\n")
                    await writer.drain()
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        """Stop listening, close the clients' links, withdraw the announcement."""
        if self.announce is not None:
            with contextlib.suppress(FileNotFoundError):
                self.announce.unlink()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
