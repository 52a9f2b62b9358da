"""Which driver serves which kind of instrument, how the service polls it, and which
simulator stands in for it when no instruments are configured.

Adding an instrument kind to the service is one line in :data:`DRIVERS` (or a call to
:func:`register_driver`): the driver class and the poll function as ``module:name``
(imported only when used, so an unfinished module never breaks the others), the
simulator of ``simulators.registry`` that speaks its protocol, and the name the
instrument gets in the embedded (simulated) station.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daq.config import InstrumentConfig, Settings
from daq.messages import Value
from daq.station.interface import Driver
from daq.station.simulation import (
    LocalDoor,
    RemoteDoor,
    SimulatorDoor,
    SimulatorWiring,
    door_beside,
)

if TYPE_CHECKING:
    from simulators.registry import RunningSimulators

log = logging.getLogger(__name__)

#: A poll function of a driver kind (it takes that kind's driver class).
PollOf = Callable[[Driver], Awaitable[dict[str, Value]]]


def _load(target: str) -> Any:
    # ``module:name`` from the table below: a dynamic import, resolved by name.
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class DriverSpec:
    """How the service builds, polls and simulates one kind of instrument."""

    driver: str  # "module:Class"; Class(resource, timeout_s, **options) is an async driver
    poll: str | None  # "module:function" taking the driver → channels; None = no polling
    simulator: str | None  # name in simulators.registry.SIMULATORS
    default_name: str  # the instrument's name in the simulated station
    default_poll_interval_s: float = 0.2  # real seconds
    #: Part of the embedded (simulated) station when no instruments are configured.
    embedded: bool = True

    def build(self, resource: str, timeout_s: float,
              options: Mapping[str, object] | None = None) -> Driver:
        """A driver instance for ``resource`` (not yet connected); ``options`` are the
        instrument's further settings (:meth:`InstrumentConfig.driver_options`)."""
        driver = _load(self.driver)(resource, timeout_s, **(options or {}))
        if not isinstance(driver, Driver):
            raise TypeError(f"{self.driver} is not an instrument driver "
                            "(connect/close/reconnect/identify)")
        return driver

    def poll_function(self) -> PollOf | None:
        """The poll function (``None`` when the instrument streams instead)."""
        if self.poll is None:
            return None
        poll: PollOf = _load(self.poll)
        return poll


DRIVERS: dict[str, DriverSpec] = {
    "lamination_press": DriverSpec(
        "drivers.lamination_press:LaminationPress", "daq.acquisition:poll_press", "press",
        "press1",
    ),
    # Streams instead of being polled: daq.peel.watch.watch_and_capture reads it.
    "peel_tester": DriverSpec("drivers.peel_tester:PeelTester", None, "peel", "peel1"),
    # Polled slowly for the live view; an aging run accounts its hours from the oven's
    # own log and a laser job polls its interlocks itself, each query under the link lock.
    "aging_oven": DriverSpec(
        "drivers.aging_oven:AgingOven", "daq.aging.acquisition:poll_oven", "oven", "oven1",
        default_poll_interval_s=1.0,
    ),
    "uv_laser": DriverSpec(
        "drivers.uv_laser:UvLaser", "daq.laser.acquisition:poll_laser", "laser", "laser1",
        default_poll_interval_s=0.5,
    ),
    # An aging oven behind a Modbus PID controller (RTU or TCP): no log of its own, so an
    # aging run samples it live. Configured, not embedded (the embedded station has one oven).
    "aging_oven_modbus": DriverSpec(
        "drivers.aging_oven_modbus:AgingOvenModbus", "daq.aging.acquisition:poll_oven",
        "oven-modbus", "oven2", default_poll_interval_s=1.0, embedded=False,
    ),
}


def register_driver(name: str, spec: DriverSpec) -> None:
    """Make a driver kind known to the service (peel, oven, laser engineers call this)."""
    DRIVERS[name] = spec


@dataclass(frozen=True)
class PlannedInstrument:
    """An instrument the station will connect to."""

    name: str
    driver: str
    config: InstrumentConfig
    spec: DriverSpec


def simulated_poll_interval_s(time_scale: float, default_s: float) -> float:
    """At high time scales poll faster (about every 30 simulated seconds), never < 50 ms."""
    return min(default_s, max(0.05, 30.0 / time_scale))


def plan_instruments(
    settings: Settings, resources: dict[str, str] | None = None
) -> list[PlannedInstrument]:
    """The instruments of ``settings``; in a simulated station ``resources`` maps simulator
    names to the resource strings they serve on."""
    planned: list[PlannedInstrument] = []
    if not settings.simulated:
        for name, cfg in settings.instruments.items():
            spec = DRIVERS.get(cfg.driver)
            if spec is None:
                log.warning("instrument %s: driver %s is not available yet", name, cfg.driver)
                continue
            planned.append(PlannedInstrument(name, cfg.driver, cfg, spec))
        return planned
    for driver, spec in DRIVERS.items():
        if (not spec.embedded or spec.simulator is None or resources is None
                or spec.simulator not in resources):
            continue
        interval = simulated_poll_interval_s(settings.time_scale, spec.default_poll_interval_s)
        cfg = InstrumentConfig(
            driver=driver,
            resource=resources[spec.simulator],
            poll_interval_s=interval,
        )
        planned.append(PlannedInstrument(spec.default_name, driver, cfg, spec))
    return planned


def simulators_needed() -> list[str]:
    """The simulators that stand in for every known driver kind (those that exist)."""
    from simulators.registry import SIMULATORS

    return [s.simulator for s in DRIVERS.values()
            if s.embedded and s.simulator in SIMULATORS and s.simulator]


def wire_simulators(
    planned: Iterable[PlannedInstrument], running: RunningSimulators | None
) -> SimulatorWiring | None:
    """The simulator wiring of a station, or ``None`` when no instrument is simulated.

    In-process simulators (``running``, a simulated station's) are told through a direct
    call of their side door; an instrument configured ``simulated`` (or with a
    ``simulator_door``) through a socket to the door of its simulator's process."""
    doors: dict[str, SimulatorDoor] = {}
    for p in planned:
        if running is not None and p.spec.simulator in running.instruments:
            doors[p.name] = LocalDoor(running.instruments[p.spec.simulator].simulate)
            continue
        cfg = p.config
        if not (cfg.simulated or cfg.simulator_door):
            continue
        door = cfg.simulator_door or door_beside(cfg.address())
        if door is None:
            log.warning("instrument %s is simulated but its simulator's side door is not "
                        "known: set simulator_door (daq simulate prints it); its "
                        "specimens get the simulator's default material", p.name)
            continue
        doors[p.name] = RemoteDoor(door, cfg.timeout_s)
    return SimulatorWiring(doors) if doors else None


async def connect_driver(driver: Driver) -> None:
    """Open a driver's link."""
    await driver.connect()


async def close_driver(driver: Driver) -> None:
    """Close a driver's link, never raising."""
    try:
        await driver.close()
    except Exception as exc:
        log.debug("closing driver: %s", exc)


async def identify(driver: Driver, timeout_s: float = 5.0) -> str | None:
    """The instrument's identity string."""
    return str(await asyncio.wait_for(driver.identify(), timeout_s))
