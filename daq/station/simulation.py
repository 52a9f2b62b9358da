"""The simulator wiring of a station: how what a simulated specimen is made of reaches
the simulator, without a driver or a procedure knowing about simulation.

A real peel tester learns nothing from software about the strip clamped in it; a
simulator must be told, or it cannot give that material's force. The run engine
announces every run's :class:`~daq.station.specimens.SpecimenLoaded` (built from the
stored specimen and sample rows); :class:`SimulatorWiring`, which exists only where an
instrument is a simulator, listens and sends ``SIM:SAMPLE <id>,<material>,<µm>,<h>``
through that simulator's side door (:mod:`simulators.door`) — never on the instrument's
own link, which the driver holds:

* the simulators a simulated station starts in-process: :class:`LocalDoor`, a direct
  call of the simulator's side door;
* simulators in another process (``daq simulate`` and instruments configured with
  ``simulated = true`` or ``simulator_door = "TCPIP::…"``): :class:`RemoteDoor`, a
  socket of the wiring's own to the door that ``daq simulate`` prints (a pty simulator
  with a stable link also announces it beside the link, ``<link>.door``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from daq.station.errors import StationError
from daq.station.specimens import SpecimenLoaded

log = logging.getLogger(__name__)

_TCP = re.compile(r"TCPIP\d*::([^:]+)::(\d+)::SOCKET", re.IGNORECASE)
_ASRL = re.compile(r"ASRL(/.+)::INSTR", re.IGNORECASE)


class SimulatorNotTold(StationError):
    """A simulator could not be told what a run puts on it: the run does not start
    (it would measure the simulator's default material instead)."""


class SimulatorDoor(Protocol):
    """One simulator's side door: a ``SIM:`` command in, its reply line out."""

    async def send(self, command: str) -> str:
        """Send ``command``; the reply (``OK``, a value or ``ERR,<code>,<text>``)."""

    async def close(self) -> None:
        """Close the door's link, if it has one."""


class LocalDoor:
    """The side door of a simulator in this process: a direct call of its ``simulate``."""

    def __init__(self, simulate: Callable[[str], str]) -> None:
        self._simulate = simulate

    async def send(self, command: str) -> str:
        """Run ``command`` in the simulator."""
        return self._simulate(command)

    async def close(self) -> None:
        """Nothing to close."""


class RemoteDoor:
    """The side door of a simulator in another process, on its own TCP socket."""

    def __init__(self, resource: str, timeout_s: float = 5.0) -> None:
        found = _TCP.fullmatch(resource.strip())
        if found is None:
            raise ValueError(f"a simulator's side door is TCPIP::host::port::SOCKET, "
                             f"not {resource!r}")
        self.resource = resource
        self.host, self.port = found.group(1), int(found.group(2))
        self.timeout_s = timeout_s
        self._link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def send(self, command: str) -> str:
        """Send ``command`` (opening the link on first use, once more if it was lost)."""
        async with self._lock:
            for attempt in (1, 2):
                try:
                    return await asyncio.wait_for(self._exchange(command), self.timeout_s)
                except (OSError, EOFError, TimeoutError):
                    await self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def _exchange(self, command: str) -> str:
        if self._link is None:
            self._link = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._link
        writer.write(command.encode("ascii", errors="replace") + b"\n")
        await writer.drain()
        raw = await reader.readline()
        if not raw:
            raise EOFError(f"side door {self.resource} closed")
        return raw.decode("ascii", errors="replace").strip()

    async def close(self) -> None:
        """Close the link (idempotent)."""
        link, self._link = self._link, None
        if link is not None:
            link[1].close()
            with contextlib.suppress(OSError, ConnectionError):
                await link[1].wait_closed()


def door_beside(resource: str) -> str | None:
    """The side door a pty simulator announced beside its link (``ASRL<link>::INSTR`` →
    the address in ``<link>.door``), if there is one."""
    from simulators.door import door_file

    found = _ASRL.fullmatch(resource.strip())
    if found is None:
        return None
    try:
        return door_file(Path(found.group(1))).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def sample_command(loaded: SpecimenLoaded) -> str:
    """``SIM:SAMPLE <id>,<material-key>,<thickness_um>,<aging_h>`` for ``loaded``."""
    return (f"SIM:SAMPLE {loaded.ident},{loaded.material_key},"
            f"{loaded.adhesive_thickness_um:g},{loaded.aging_hours:g}")


async def tell(door: SimulatorDoor, loaded: SpecimenLoaded) -> None:
    """Tell the simulator behind ``door`` what ``loaded`` is; :class:`SimulatorNotTold`."""
    try:
        reply = await door.send(sample_command(loaded))
    except (OSError, EOFError, TimeoutError) as exc:
        raise SimulatorNotTold(
            f"the simulator of {loaded.instrument} could not be told what {loaded.ident} "
            f"is made of: its side door did not answer ({type(exc).__name__}: {exc})"
        ) from exc
    if reply.upper().startswith("ERR"):
        raise SimulatorNotTold(
            f"the simulator of {loaded.instrument} refused {loaded.ident} "
            f"({loaded.material_key}): {reply}")


class SimulatorWiring:
    """Tells each simulated instrument's simulator what every run puts on it.

    A :class:`~daq.station.specimens.SpecimenListener` of the run engine; only a station
    with simulated instruments has one. ``told`` keeps what it told, in order."""

    def __init__(self, doors: Mapping[str, SimulatorDoor]) -> None:
        self.doors = dict(doors)
        self.told: list[SpecimenLoaded] = []

    async def specimen_loaded(self, loaded: SpecimenLoaded) -> None:
        """Tell the simulator of ``loaded.instrument`` (a real instrument: nothing)."""
        door = self.doors.get(loaded.instrument)
        if door is None:
            return
        await tell(door, loaded)
        self.told.append(loaded)
        log.debug("simulator of %s told: %s", loaded.instrument, sample_command(loaded))

    async def close(self) -> None:
        """Close every door's link."""
        for door in self.doors.values():
            await door.close()
