"""Which simulators exist and how to put them on the wire, and the helper that starts a set
of them on one clock (used by ``python -m simulators``, ``daq simulate`` and the service
when no instruments are configured).

Adding a simulator is one line in :data:`SIMULATORS`: its name, the ``module:Class`` that
builds it (imported only when that simulator is started, so one unfinished module never
breaks the others), the link kind (``tcp`` or ``pty``; ``modbus-rtu`` / ``modbus-tcp`` for
the oven behind a Modbus controller) and its default TCP port.
"""

from __future__ import annotations

import asyncio
import importlib
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from simulators.clock import Clock
from simulators.door import SimulationDoor
from simulators.framework import SimInstrument
from simulators.servers import PtyServer, TcpServer

if TYPE_CHECKING:  # imported when started (pymodbus is needed only by the Modbus oven)
    from simulators.oven_modbus import ModbusRtuServer, ModbusTcpSimServer


@dataclass(frozen=True)
class SimulatorSpec:
    """How to build one simulator and serve it."""

    target: str  # "module:Class", a SimInstrument subclass taking (clock)
    #: ``modbus-rtu`` / ``modbus-tcp``: served as a Modbus controller (simulators.oven_modbus).
    link: Literal["tcp", "pty", "modbus-rtu", "modbus-tcp"]
    default_port: int = 0  # TCP only; 0 = any free port
    #: Started by ``all`` (the Modbus ovens are started by name only).
    in_all: bool = True

    def build(self, clock: Clock) -> SimInstrument:
        """A new instrument on ``clock``."""
        module_name, _, class_name = self.target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        instrument = cls(clock)
        if not isinstance(instrument, SimInstrument):
            raise TypeError(f"{self.target} does not build a SimInstrument")
        return instrument


SIMULATORS: dict[str, SimulatorSpec] = {
    "press": SimulatorSpec("simulators.press:PressSimulator", "tcp", 5025),
    "peel": SimulatorSpec("simulators.peel:PeelTester", "pty"),
    "oven": SimulatorSpec("simulators.oven:OvenSim", "pty"),
    "laser": SimulatorSpec("simulators.laser:UvLaserSim", "tcp", 5026),
    # The same oven model behind a Modbus PID controller: RTU on a pty, or Modbus TCP.
    "oven-modbus": SimulatorSpec("simulators.oven:OvenSim", "modbus-rtu", in_all=False),
    "oven-modbus-tcp": SimulatorSpec("simulators.oven:OvenSim", "modbus-tcp", 5020,
                                     in_all=False),
}


def names() -> list[str]:
    """Every registered simulator, in registration order."""
    return list(SIMULATORS)


def expand(requested: Iterable[str]) -> list[str]:
    """Resolve ``all`` and check names; raises ``KeyError`` naming the unknown one."""
    chosen: list[str] = []
    for name in requested:
        key = name.strip().lower()
        group = [n for n in names() if SIMULATORS[n].in_all] if key == "all" else [key]
        for item in group:
            if item not in SIMULATORS:
                raise KeyError(f"unknown simulator {name!r}; known: {', '.join(names())}, all")
            if item not in chosen:
                chosen.append(item)
    return chosen


Server: TypeAlias = "TcpServer | PtyServer | ModbusRtuServer | ModbusTcpSimServer"


class RunningSimulators(dict[str, str]):
    """Started simulators: a mapping name → VISA resource string, plus the instruments and
    servers behind it (``instruments[name]`` for fault injection), each one's side door
    (``doors[name]``: the address of its :class:`~simulators.door.SimulationDoor`) and
    :meth:`stop`."""

    def __init__(self) -> None:
        super().__init__()
        self.instruments: dict[str, SimInstrument] = {}
        self.servers: dict[str, Server] = {}
        self.doors: dict[str, str] = {}
        self.door_servers: dict[str, SimulationDoor] = {}

    async def stop(self) -> None:
        """Stop every server, its side door and its physics."""
        for door in reversed(list(self.door_servers.values())):
            await door.stop()
        self.door_servers.clear()
        for server in reversed(list(self.servers.values())):
            await server.stop()
        self.servers.clear()

    async def __aenter__(self) -> RunningSimulators:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def default_link(name: str) -> Path:
    """Where a pty simulator's stable symlink goes by default."""
    return Path(tempfile.gettempdir()) / f"lamina-sim-{name}"


async def start_simulators(
    requested: Iterable[str],
    clock: Clock | None = None,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    links: Mapping[str, str | Path | None] | None = None,
) -> RunningSimulators:
    """Start simulators on one clock and return name → resource string.

    ``ports`` gives TCP ports by name (missing: 0, an ephemeral port); ``links`` gives a
    stable symlink path for pty simulators (missing or ``None``: the bare ``/dev/pts/N``).
    Each simulator also gets its side door on an ephemeral port of ``127.0.0.1``
    (``running.doors``; announced beside a pty's link). On failure, whatever was started
    is stopped again.
    """
    clock = clock or Clock()
    ports = ports or {}
    links = links or {}
    running = RunningSimulators()
    try:
        for name in expand(requested):
            spec = SIMULATORS[name]
            instrument = spec.build(clock)
            server: Server
            link: str | Path | None = None
            if spec.link == "tcp":
                server = TcpServer(instrument, host, ports.get(name, 0))
            elif spec.link.startswith("modbus"):
                server = _modbus_server(spec, instrument, host, ports.get(name, 0),
                                        links.get(name))
                link = links.get(name) if spec.link == "modbus-rtu" else None
            else:
                link = links.get(name)
                server = PtyServer(instrument, link)
            running[name] = await server.start()
            running.instruments[name] = instrument
            running.servers[name] = server
            door = SimulationDoor(instrument, beside=Path(link) if link else None)
            running.doors[name] = await door.start()
            running.door_servers[name] = door
    except BaseException:
        await running.stop()
        raise
    return running


def _modbus_server(spec: SimulatorSpec, instrument: SimInstrument, host: str, port: int,
                   link: str | Path | None) -> ModbusRtuServer | ModbusTcpSimServer:
    from simulators.oven import OvenSim
    from simulators.oven_modbus import ModbusRtuServer, ModbusTcpSimServer

    if not isinstance(instrument, OvenSim):
        raise TypeError(f"{spec.target} is not an oven: only ovens speak Modbus here")
    if spec.link == "modbus-rtu":
        return ModbusRtuServer(instrument, link)
    return ModbusTcpSimServer(instrument, host, port)


async def serve_until_stopped(running: RunningSimulators, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then stop every simulator."""
    try:
        await stop.wait()
    finally:
        await running.stop()


def parse_ports(values: Iterable[str], chosen: list[str]) -> dict[str, int]:
    """``--port`` values: ``NAME=PORT`` each, or one bare ``PORT`` when one simulator runs.

    Simulators not named get their default port (5025 for the press, …).
    """
    ports = {name: SIMULATORS[name].default_port for name in chosen}
    for value in values:
        name, sep, port_text = value.rpartition("=")
        if not sep:
            if len(chosen) != 1:
                raise ValueError(f"--port {value}: say which simulator, e.g. press={value}")
            name = chosen[0]
        if name not in chosen:
            raise ValueError(f"--port {value}: {name!r} is not being started")
        try:
            ports[name] = int(port_text)
        except ValueError:
            raise ValueError(f"--port {value}: {port_text!r} is not a port number") from None
    return ports


def apply_faults(running: RunningSimulators, faults: Iterable[str]) -> None:
    """``--fault [NAME:]FAULT[,ARG]``: inject into simulator NAME, or into every one running."""
    for text in faults:
        target, sep, spec = text.partition(":")
        if not sep:
            target, spec = "", text
        fault, _, arg = spec.partition(",")
        targets = [target] if target else list(running.instruments)
        for name in targets:
            if name not in running.instruments:
                raise ValueError(f"--fault {text}: {name!r} is not running")
            running.instruments[name].inject(fault, arg or None)


async def serve(
    requested: Iterable[str],
    *,
    time_scale: float = 1.0,
    time_origin: float | None = None,
    host: str = "127.0.0.1",
    port_args: Iterable[str] = (),
    faults: Iterable[str] = (),
    link_dir: Path | None = None,
    announce: bool = True,
) -> None:
    """Start simulators, print ``name resource`` lines, serve until SIGINT/SIGTERM."""
    import signal
    import sys

    chosen = expand(requested)
    ports = parse_ports(port_args, chosen)
    links: dict[str, str | Path | None] = {}
    for name in chosen:
        if SIMULATORS[name].link in ("pty", "modbus-rtu"):
            links[name] = (link_dir / f"lamina-sim-{name}") if link_dir else default_link(name)
    clock = Clock(time_scale, time_origin)
    running = await start_simulators(chosen, clock, host, ports, links)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        apply_faults(running, faults)
    except Exception:
        await running.stop()
        raise
    if announce:
        for name, resource in running.items():
            print(f"{name} {resource}", flush=True)
        for name, door in running.doors.items():
            print(f"# {name} side door (simulation commands only) {door}", file=sys.stderr)
        print(f"# time scale {clock.scale:g}, origin {clock.origin:.3f}; Ctrl-C stops",
              file=sys.stderr, flush=True)
    await serve_until_stopped(running, stop)
