"""The running station: ``async with Lab(settings) as lab:``.

A :class:`Lab` composes everything one ``daq run`` needs, in order: the clock, the bus,
the database (migrated to head, live runs left by a crash closed as INTERRUPTED), the
database recorder and the batched readings writer, the MQTT publisher (and the embedded
broker when ``DAQ_MQTT_URL=embedded``), the instruments — the simulators started
in-process when none are configured — with one acquisition poller each, and the
procedures that run as tasks. Leaving the context shuts down cleanly: live procedures
are aborted to their safe state, readings flushed, the outbox drained as far as the
broker allows, ``offline`` published.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from daq.acquisition import InstrumentPoller
from daq.bus import Bus
from daq.clock import SimClock
from daq.config import Settings
from daq.messages import InstrumentStatus
from daq.mqtt.broker import EmbeddedBroker
from daq.mqtt.outbox import OutboxDrainer
from daq.mqtt.publisher import MqttPublisher
from daq.mqtt.topics import parse_mqtt_url
from daq.recipes import PressRecipe, parse_recipe
from daq.station.engine import RUN_SETTLE_S, ActiveRun, RunEngine
from daq.station.errors import StationError
from daq.station.instruments import (
    PlannedInstrument,
    close_driver,
    connect_driver,
    identify,
    plan_instruments,
    simulators_needed,
    wire_simulators,
)
from daq.station.interface import Driver, StationStatus
from daq.station.journal import Journal
from daq.station.ownership import InstrumentClaims
from daq.station.procedures import Procedure
from daq.station.queue import RunQueue
from daq.station.recording import JournalledRecorder
from daq.station.simulation import SimulatorWiring
from daq.storage.database import create_engine, session_factory, upgrade
from daq.storage.errors import is_transient
from daq.storage.models import Instrument as InstrumentRow
from daq.storage.readings import ReadingWriter
from daq.storage.recorder import DbRecorder
from daq.storage.recovery import InterruptedRun, recover_interrupted

if TYPE_CHECKING:
    from daq.opcua.server import OpcUaServer
    from simulators.clock import Clock
    from simulators.registry import RunningSimulators

__all__ = ["RUN_SETTLE_S", "ActiveRun", "Instrument", "Lab", "LabError", "Procedure"]

#: How long the runs get to reach a safe state on the way out.
SHUTDOWN_RUNS_S = 15.0
#: How long any other part of the station gets to stop before it is left behind.
SHUTDOWN_PART_S = 10.0

log = logging.getLogger(__name__)


#: What the station refuses (kept under its old name for existing callers).
LabError = StationError


@dataclass
class Instrument:
    """One connected (or connecting) instrument of the station."""

    name: str
    driver_name: str
    resource: str
    driver: Driver
    poller: InstrumentPoller | None
    idn: str | None = None


class Lab:
    """The station: instruments, acquisition, storage, MQTT and procedures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = SimClock(settings.time_scale, settings.time_origin)
        self.bus = Bus()
        self.instruments: dict[str, Instrument] = {}
        self.pollers: dict[str, InstrumentPoller] = {}
        #: Every run starts, is aborted and followed here, from any client.
        self.run_engine = RunEngine(self)
        #: The run queue (bluesky-queueserver's contract), loaded from the database at start.
        self.run_queue = RunQueue(self, ignore_failures=settings.queue_ignore_failures)
        self.interrupted: list[InterruptedRun] = []
        self.engine: AsyncEngine | None = None
        self.claims: InstrumentClaims | None = None
        self.sessions: async_sessionmaker[AsyncSession]
        self.db_recorder: DbRecorder
        self.journal: Journal
        self.recorder: JournalledRecorder
        self.writer: ReadingWriter
        self.publisher: MqttPublisher
        self.broker: EmbeddedBroker | None = None
        #: The OPC UA server (``DAQ_OPCUA_URL`` set), else ``None``.
        self.opcua: OpcUaServer | None = None
        #: The in-process simulators (a simulated station only) and their clock.
        self.simulators: RunningSimulators | None = None
        self.simulator_clock: Clock | None = None
        #: Tells the simulators what each run puts on them (``None``: nothing simulated).
        self.simulator_wiring: SimulatorWiring | None = None
        self.gauges: dict[str, float] = {"database_up": 0.0, "outbox_pending": 0.0,
                                         "readings_per_s": 0.0}
        self._monitor: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    # -- start-up ----------------------------------------------------------------------
    async def __aenter__(self) -> Lab:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        s = self.settings
        address = parse_mqtt_url(s.mqtt_url, s.embedded_mqtt_port)  # bad URL: fail first
        self.engine = engine = create_engine(s.database_url)
        self._on_exit("database engine", engine.dispose)
        await upgrade(engine)
        self.sessions = session_factory(engine)
        self.gauges["database_up"] = 1.0
        outbox = OutboxDrainer(self.sessions, self.clock)
        self.db_recorder = DbRecorder(self.sessions, self.bus, prefix=s.mqtt_prefix,
                                      station=s.station, clock=self.clock)
        self.journal = Journal(
            s.journal_directory(), max_memory=s.journal_max_memory,
            max_spill_bytes=int(s.journal_max_spill_mb * 1024 * 1024),
            slow_after_s=s.journal_slow_after_s, is_transient=is_transient,
            on_lost=self._records_lost,
        )
        self.journal.start(self.db_recorder)
        # Not bounded from outside: its stop is bounded itself and must reach the
        # point where what is left is kept on file.
        self._stack.push_async_callback(self.journal.stop)
        self.recorder = JournalledRecorder(self.journal, self.db_recorder)
        # Every instrument is claimed before any driver is opened (and before recovery,
        # which must know this station owns what it is about to close): a refusal stops
        # the start-up here, naming the holder, with nothing half-owned.
        resources: dict[str, str] | None = None
        if s.simulated:
            resources = await self._start_simulators()
        planned_instruments = plan_instruments(s, resources)
        self.claims = InstrumentClaims(
            self.sessions, s.station, heartbeat_s=s.claim_heartbeat_s,
            stale_s=s.claim_stale_s, sim_now=self.clock.now)
        await self.claims.claim_all({p.name: p.config.address() for p in planned_instruments})
        self._on_exit("instrument claims", self.claims.close)
        self.claims.start_heartbeat()
        # Records a previous run left on the spill file are stored before recovery, so a
        # run whose end is in them is closed as it ended, not as INTERRUPTED.
        if self.journal.depth and not await self.journal.settled(30.0):
            log.warning("journal: %d records from an earlier run still waiting for the "
                        "database", self.journal.depth)
        self.interrupted = await recover_interrupted(
            self.db_recorder, now_ts=self.clock.now(), stale_after_s=s.claim_stale_s)
        for run in self.interrupted:
            log.warning("run %s (%s) was live when the service stopped: now INTERRUPTED, "
                        "%d readings stored", run.run_id, run.kind, run.readings_stored)
        self.writer = ReadingWriter.from_settings(engine, self.bus, s)
        self.writer.run_rows_lock = self.db_recorder.run_rows_lock
        self.writer.start()
        self._on_exit("reading writer", self.writer.stop)
        if address.embedded:
            self.broker = EmbeddedBroker(address.host, address.port)
            port = await self.broker.start()
            self._on_exit("embedded broker", self.broker.stop)
            address = type(address)(address.host, port, embedded=True)
        self.publisher = MqttPublisher(
            host=address.host, port=address.port, prefix=s.mqtt_prefix, clock=self.clock,
            bus=self.bus, outbox=outbox, readings_queue=s.mqtt_readings_queue,
            client_id=f"lamina-{s.station}-{id(self):x}",
            username=address.username, password=address.password,
        )
        await self.publisher.start()
        self._on_exit("MQTT publisher", self.publisher.stop)
        if s.opcua_url:  # off by default; follows the bus before the instruments connect
            self._begin_opcua(s.opcua_url, planned_instruments)
        # On the way out, before the publisher stops: the last records into the database
        # (and so into the outbox the publisher drains).
        self._on_exit("journal settling", functools.partial(self.journal.settled, 5.0))
        for planned in planned_instruments:
            await self._connect(planned)
        self._on_exit("instruments", self._close_instruments)
        # Only where an instrument is a simulator: what each run's specimen is made of
        # goes to the simulator through its side door, never through a driver.
        self.simulator_wiring = wire_simulators(planned_instruments, self.simulators)
        if self.simulator_wiring is not None:
            self.run_engine.add_specimen_listener(self.simulator_wiring)
            self._on_exit("simulator wiring", self.simulator_wiring.close)
        # The queue comes back stopped, with its queued items; after the engine stopped
        # the runs on the way out, it notes how its running item ended.
        await self.run_queue.load()
        self._on_exit("run queue", self.run_queue.close)
        # Registered last but one, so it runs early on the way out: procedures to safe state.
        self._on_exit("runs", self._stop_procedures, timeout_s=SHUTDOWN_RUNS_S + 5.0)
        # Last, so first on the way out: the queue starts nothing more.
        self._stack.callback(self.run_queue.hold)
        if self.opcua is not None:  # begun before the instruments; listening from here on
            await self.opcua.ready(unpolled=[
                InstrumentStatus(i.name, self.clock.now(), "online" if i.idn else "offline")
                for i in self.instruments.values() if i.poller is None])
        self._monitor = asyncio.get_running_loop().create_task(self._watch(), name="lab-monitor")

    def _begin_opcua(self, url: str, planned: list[PlannedInstrument]) -> None:
        """Start the OPC UA server's thread (it listens by the end of the start-up)."""
        from daq.opcua.server import OpcUaServer
        from daq.opcua.users import StationUsers

        self.opcua = OpcUaServer(
            url, bus=self.bus, station=self.settings.station,
            instruments={p.name: p.driver for p in planned}, users=StationUsers(self.sessions),
            allow_anonymous=self.settings.opcua_allow_anonymous,
            certificate=self.settings.opcua_certificate,
            private_key=self.settings.opcua_private_key)
        self.opcua.begin()
        self._on_exit("OPC UA server", self.opcua.stop)

    async def _start_simulators(self) -> dict[str, str]:
        from simulators.clock import Clock
        from simulators.registry import start_simulators

        clock = Clock(self.clock.scale, self.clock.origin)
        self.simulator_clock = clock
        self.simulators = running = await start_simulators(simulators_needed(), clock)
        self._on_exit("simulators", running.stop)
        return dict(running)

    async def _connect(self, planned: PlannedInstrument) -> None:
        cfg = planned.config
        resource = cfg.address()
        driver = planned.spec.build(resource, cfg.timeout_s, cfg.driver_options())
        instrument = Instrument(planned.name, planned.driver, resource, driver, None)
        self.instruments[planned.name] = instrument
        try:
            await connect_driver(driver)
            instrument.idn = await identify(driver, cfg.timeout_s)
        except Exception as exc:  # the poller keeps reconnecting; the station still starts
            log.warning("instrument %s at %s not reachable yet: %s", planned.name, resource, exc)
            self.bus.publish(InstrumentStatus(planned.name, self.clock.now(), "offline", str(exc)))
        await self._register(instrument)
        poll = planned.spec.poll_function()
        if poll is not None:
            poller = InstrumentPoller(
                planned.name, functools.partial(poll, driver), cfg.poll_interval_s, self.clock,
                self.bus, reconnect=driver.reconnect,
            )
            poller.start()
            instrument.poller = poller
            self.pollers[planned.name] = poller

    async def _register(self, instrument: Instrument) -> None:
        """Keep the ``instruments`` table in step with what this station connects to."""
        try:
            async with self.sessions() as session, session.begin():
                await session.merge(InstrumentRow(
                    station=self.settings.station, name=instrument.name,
                    driver=instrument.driver_name,
                    resource=instrument.resource, idn=instrument.idn,
                    last_seen_ts=self.clock.now() if instrument.idn else None,
                    status="online" if instrument.idn else "offline",
                ))
        except Exception as exc:  # a registry row is not worth failing the start-up for
            log.warning("instrument %s not registered in the database: %s", instrument.name, exc)

    async def _close_instruments(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        for instrument in self.instruments.values():
            await close_driver(instrument.driver)
            self.bus.publish(InstrumentStatus(instrument.name, self.clock.now(), "offline",
                                              "service stopped"))

    # -- shutdown ----------------------------------------------------------------------
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._monitor is not None:
            # Bounded, the cancel repeated: a task that lost one cancel must not keep the
            # station from stopping.
            while not self._monitor.done():
                self._monitor.cancel()
                await asyncio.wait({self._monitor}, timeout=1.0)
        await self._stack.aclose()

    async def _stop_procedures(self) -> None:
        await self.run_engine.shutdown(SHUTDOWN_RUNS_S)

    def _on_exit(self, part: str, stop: Callable[[], Awaitable[object]],
                 timeout_s: float = SHUTDOWN_PART_S) -> None:
        """Register one part's stop for the way out, bounded: a part that hangs (a
        database connection stuck in the pool, a broker that does not answer) is left
        behind with a warning naming it, and the rest of the station still stops."""

        async def bounded() -> None:
            try:
                await asyncio.wait_for(stop(), timeout_s)
            except TimeoutError:
                log.warning("shutdown: %s did not stop within %.0f s; left behind", part,
                            timeout_s)
            except Exception as exc:  # one part's failure must not keep the others up
                log.warning("shutdown: stopping %s failed: %s", part, exc)

        self._stack.push_async_callback(bounded)

    # -- time --------------------------------------------------------------------------
    def set_time_scale(self, new_scale: float) -> None:
        """Re-scale simulated time from now on, for the service and the in-process
        simulators together: ``now()`` stays continuous and both keep one origin, so
        their timestamps still agree (a campaign runs the press at ~1000× and the
        1000-hour aging at ~100 000×). Poll intervals stay in real seconds."""
        self.clock.set_scale(new_scale)
        if self.simulator_clock is not None:
            self.simulator_clock.set_scale(self.clock.scale, self.clock.origin)

    # -- procedures (all through the run engine) ----------------------------------------
    @property
    def runs(self) -> dict[str, ActiveRun]:
        """Every run of this station since it started (live and ended), by id."""
        return self.run_engine.runs

    def start_procedure(
        self,
        kind: str,
        factory: Callable[[Lab], Procedure],
        *,
        instrument: str | None = None,
        operator: str | None = None,
    ) -> str:
        """Run the procedure ``factory(self)`` through the engine; its run id.

        Refuses (:class:`~daq.station.errors.InstrumentBusy`, a :class:`LabError`) when
        one of its instruments is busy with another live run."""
        if instrument is not None:  # refuse before the factory builds anything
            self.run_engine.ensure_free((instrument,))
        return self.run_engine.adopt(factory(self), operator=operator, source="station")

    def _records_lost(self, reason: str) -> None:
        """The journal cannot keep records: make every live instrument safe, loudly."""
        live = self.active_runs()
        log.error("records cannot be kept (%s): aborting %d live runs to their safe state",
                  reason, len(live))
        for run in live:
            run.procedure.abort(f"records cannot be kept: {reason}")

    async def start_press_cycle(
        self, recipe: PressRecipe | dict[str, Any], operator: str | None = None, *,
        press: str | None = None, sample_id: str | None = None,
    ) -> str:
        """Start a press cycle on ``press`` (default: the station's press); the run id.

        ``recipe`` is a :class:`daq.recipes.PressRecipe` or a dict of its fields; out of
        window → :class:`daq.recipes.RecipeOutOfRange` before anything moves. A thin
        alias of ``run_engine.start("press_cycle", …)``."""
        from daq.press.params import PressCycleParams

        parsed = recipe if isinstance(recipe, PressRecipe) else parse_recipe(dict(recipe))
        params = PressCycleParams.of(parsed, sample_id=sample_id, press=press)
        # The audit line is written by whoever took the command (API, CLI), not twice here.
        return await self.run_engine.start("press_cycle", params, operator, "station")

    async def abort(self, run_id: str, operator: str | None = None,
                    timeout_s: float = 15.0) -> bool:
        """Abort a live run; True once its procedure has ended (safe state reached)."""
        return await self.run_engine.abort(run_id, operator, timeout_s)

    def active_runs(self) -> list[ActiveRun]:
        """Runs live in this station now."""
        return self.run_engine.active()

    async def wait_run(self, run_id: str, timeout_s: float | None = None) -> object:
        """Wait for a run's procedure to end; the kind's own result (``CycleResult``…)."""
        await self.run_engine.wait(run_id, timeout_s)
        return self.run_engine.result(run_id)

    # -- health ------------------------------------------------------------------------
    async def _watch(self, period_s: float = 1.0) -> None:
        last_polls, last_t = self._polls(), time.monotonic()
        while True:
            await asyncio.sleep(period_s)
            polls, now = self._polls(), time.monotonic()
            self.gauges["readings_per_s"] = (polls - last_polls) / max(now - last_t, 1e-6)
            last_polls, last_t = polls, now
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
                # cancel that stops this task (seen as a station that never stopped).
                async with self.sessions() as session, asyncio.timeout(2.0):
                    await session.execute(text("SELECT 1"))
                self.gauges["database_up"] = 1.0
                if self.publisher.outbox is not None:
                    async with asyncio.timeout(2.0):
                        pending = await self.publisher.outbox.pending()
                    self.gauges["outbox_pending"] = float(pending)
            except Exception as exc:
                if self.gauges["database_up"]:
                    log.warning("database not answering: %s", exc)
                self.gauges["database_up"] = 0.0

    def _polls(self) -> int:
        return sum(p.polls for p in self.pollers.values())

    def problems(self) -> dict[str, str]:
        """Each part that is down or lagging, with why (empty when everything is ok)."""
        s = self.settings
        out: dict[str, str] = {}
        journal = self.journal
        age = journal.oldest_age_s()
        readings_age = self.writer.oldest_buffered_age_s()
        if not self.gauges["database_up"]:
            out["database"] = "down (not answering)"
        elif (journal.trouble is not None or journal.depth > s.journal_lag_records
              or age > s.journal_lag_age_s):
            out["database"] = (
                f"lagging: {journal.depth} records waiting in the journal, the oldest "
                f"{age:.1f} s" + (f" ({journal.trouble})" if journal.trouble else "")
            )
        elif readings_age > s.journal_lag_age_s:
            out["database"] = (
                f"lagging: {self.writer.stats.buffered} reading rows waiting, the oldest "
                f"{readings_age:.1f} s ({self.writer.stats.last_error or 'slow'})"
            )
        if journal.lost is not None:
            out["journal"] = journal.lost
        if not self.publisher.connected:
            out["broker"] = "disconnected"
        for name, poller in self.pollers.items():
            if poller.status != "online":
                out[f"instrument {name}"] = poller.status or "connecting"
        return out

    def status(self) -> StationStatus:
        """A summary for /health and `daq run`: broker, database, instruments, runs."""
        problems = self.problems()
        return {
            "status": "degraded" if problems else "ok",
            "degraded": problems,
            "journal": {"depth": self.journal.depth, "spilling": self.journal.spilling,
                        "oldest_age_s": round(self.journal.oldest_age_s(), 3)},
            "mqtt": self.publisher.state,
            "database": "up" if self.gauges["database_up"] else "down",
            "instruments": {
                name: (p.status or "connecting") for name, p in self.pollers.items()
            },
            "active_runs": [r.run_id for r in self.active_runs()],
            "interrupted_at_start": [r.run_id for r in self.interrupted],
        }

