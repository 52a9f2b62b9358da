"""The station's public surface, typed: what its clients (the API, the run engine's
procedure factories, a campaign) may read and call, and nothing they must guess.

:class:`daq.station.lab.Lab` satisfies :class:`Station`; the API depends on this protocol
only (``StationDep``), so a router never probes the station's parts for their shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.acquisition import InstrumentPoller
from daq.bus import Bus
from daq.clock import SimClock
from daq.config import Settings
from daq.mqtt.publisher import MqttPublisher
from daq.record import Recorder
from daq.station.journal import Journal
from daq.storage.readings import ReadingWriter
from daq.storage.recovery import InterruptedRun

if TYPE_CHECKING:
    from daq.station.engine import RunEngine
    from daq.station.queue import RunQueue


@runtime_checkable
class Driver(Protocol):
    """What the station needs of every instrument driver (all four are
    :class:`drivers.link.InstrumentLink` subclasses): open, close, reopen, identify."""

    async def connect(self) -> None:
        """Open the link."""

    async def close(self) -> None:
        """Close the link (idempotent)."""

    async def reconnect(self) -> None:
        """Close and open again (after a lost link)."""

    async def identify(self) -> object:
        """The instrument's identity (``*IDN?`` or its equivalent)."""


class JournalStatus(TypedDict):
    """The journal at a glance: records not yet stored, spilling to file, oldest age."""

    depth: int
    spilling: bool
    oldest_age_s: float


class StationStatus(TypedDict):
    """The station's summary for ``/health`` and ``daq run``."""

    #: ``ok``, or ``degraded`` when any part is down or lagging.
    status: str
    #: Each part that is down or lagging (database, journal, broker, instrument …), why.
    degraded: dict[str, str]
    journal: JournalStatus
    mqtt: str
    database: str
    instruments: dict[str, str]
    active_runs: list[str]
    interrupted_at_start: list[str]


class InstrumentView(Protocol):
    """One instrument of the station, as its clients see it."""

    @property
    def name(self) -> str:
        """The station's name for it (``press1``)."""

    @property
    def driver_name(self) -> str:
        """The driver kind (``lamination_press``, ``peel_tester``, …)."""

    @property
    def resource(self) -> str:
        """Where it is (VISA resource string)."""

    @property
    def driver(self) -> Driver:
        """The connected driver."""

    @property
    def poller(self) -> InstrumentPoller | None:
        """Its acquisition poller (``None`` for an instrument that streams instead)."""

    @property
    def idn(self) -> str | None:
        """Its identity, once it answered."""


class Station(Protocol):
    """A running station: its parts, read-only, and the run engine to start runs with."""

    @property
    def settings(self) -> Settings:
        """The configuration it runs with."""

    @property
    def clock(self) -> SimClock:
        """Simulated time of the station (and its in-process simulators)."""

    @property
    def bus(self) -> Bus:
        """The in-process message bus (readings, events, alarms, statuses)."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Database sessions."""

    @property
    def recorder(self) -> Recorder:
        """Where procedures put their record: the journal, on to the database and the
        MQTT outbox; ``settled`` waits until what was recorded so far is stored."""

    @property
    def journal(self) -> Journal:
        """The journal between procedures and the database (depth, age, stats)."""

    @property
    def writer(self) -> ReadingWriter:
        """The batched readings writer (its ``stats`` feed /metrics)."""

    @property
    def publisher(self) -> MqttPublisher:
        """The MQTT publisher (state, stats, outbox)."""

    @property
    def run_engine(self) -> RunEngine:
        """The run engine: start, abort, wait for and list runs."""

    @property
    def run_queue(self) -> RunQueue:
        """The run queue: items started one after the other through the engine."""

    @property
    def instruments(self) -> Mapping[str, InstrumentView]:
        """Every instrument, connected or connecting, by name."""

    @property
    def pollers(self) -> Mapping[str, InstrumentPoller]:
        """The acquisition pollers by instrument name."""

    @property
    def gauges(self) -> Mapping[str, float]:
        """Monitor gauges: ``database_up``, ``outbox_pending``, ``readings_per_s``."""

    @property
    def interrupted(self) -> list[InterruptedRun]:
        """Runs found live at start-up and closed INTERRUPTED."""

    def status(self) -> StationStatus:
        """Broker, database, journal, instruments, runs; ``degraded`` names what is not ok."""

    def set_time_scale(self, new_scale: float) -> None:
        """Re-scale simulated time (station and in-process simulators together)."""
