"""The run engine: the one way a run starts in this station, from any client.

``start(kind, params, operator, source)`` validates the parameters with the kind's
model, claims the instruments the run occupies (refusing with :class:`InstrumentBusy`,
naming the holder, when another live run holds one), pauses any background reader of
those instruments (the front-panel peel watcher: two readers on one serial line take
each other's lines), builds the procedure with the kind's factory and runs it as a task.
``abort`` waits for the safe state (then, bounded, for the run's records), ``wait`` for
the outcome, ``active`` lists the live runs. A run may start *inside* another
(``parent``: a campaign's steps) on instruments that run holds; nobody else can take
them meanwhile.

Before a run it starts begins, the engine tells every registered
:class:`~daq.station.specimens.SpecimenListener` what the run puts on its instruments
(:class:`~daq.station.specimens.SpecimenLoaded`, from the stored specimen and sample
rows): a simulated station's simulator wiring is one, and tells its simulators.

Progress reaches the bus from the procedures themselves (their ``RunEvent`` transitions
and results, through the station's recorder, and their readings).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydantic import BaseModel

from daq.station.errors import InstrumentBusy, RunHolder, RunNotLive, UnknownKind
from daq.station.interface import Station
from daq.station.outcome import Outcome
from daq.station.procedures import Kind, Procedure
from daq.station.specimens import SpecimenListener

log = logging.getLogger(__name__)

#: Real seconds an abort waits for the procedure to reach its safe state.
ABORT_TIMEOUT_S = 15.0
#: Real seconds a finished run's task waits for its records to reach the database (the
#: journal stores them behind the procedure): bounded, so a database outage cannot hold
#: a finished run, or its instruments, open.
RUN_SETTLE_S = 5.0


class BackgroundReader(Protocol):
    """Something that reads an instrument when no run holds it (a front-panel watcher)."""

    async def pause(self) -> None:
        """Stop reading; returns once the line is free."""

    def resume(self) -> None:
        """Read again."""


@dataclass
class ActiveRun:
    """A run of this station: what, on which instruments, who, since when, where now."""

    run_id: str
    kind: str
    instruments: tuple[str, ...]
    operator: str | None
    source: str
    started_wall: float  # real epoch seconds
    started_ts: float  # simulated epoch seconds
    parent: str | None
    procedure: Procedure = field(repr=False)
    task: asyncio.Task[Outcome] = field(repr=False)
    #: Set when the procedure's run() has returned (its instruments are safe or done); the
    #: task itself ends once its records are stored too (bounded by RUN_SETTLE_S).
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def instrument(self) -> str | None:
        """The (first) instrument it occupies."""
        return self.instruments[0] if self.instruments else None

    @property
    def phase(self) -> str | None:
        """The procedure's current state."""
        return self.procedure.phase

    @property
    def live(self) -> bool:
        """True until the procedure has ended."""
        return not self.task.done()

    @property
    def outcome(self) -> Outcome | None:
        """How it ended (``None`` while live)."""
        if not self.task.done():
            return None
        return Outcome.INTERRUPTED if self.task.cancelled() else self.task.result()

    def holder(self) -> RunHolder:
        """This run as the holder of an instrument."""
        return RunHolder(self.run_id, self.kind, self.operator, self.started_wall, self.started_ts)


@dataclass
class _Claim:
    holder: RunHolder
    previous: _Claim | None = None  # the parent's claim a child run stacks on


class RunEngine:
    """Starts, aborts, lists and waits for the runs of one station."""

    def __init__(self, station: Station, kinds: Mapping[str, Kind] | None = None) -> None:
        self.station = station
        self._kinds = dict(kinds) if kinds is not None else None
        self.runs: dict[str, ActiveRun] = {}
        self._claims: dict[str, _Claim] = {}
        self._readers: dict[str, BackgroundReader] = {}
        self._paused: set[str] = set()
        self._specimen_listeners: list[SpecimenListener] = []
        self._lock = asyncio.Lock()

    # -- kinds ---------------------------------------------------------------------------
    @property
    def kinds(self) -> Mapping[str, Kind]:
        """The kinds of run this engine starts, by name."""
        if self._kinds is None:
            from daq.station.kinds import default_kinds

            self._kinds = default_kinds()
        return self._kinds

    def kind(self, name: str) -> Kind:
        """The kind called ``name``; :class:`UnknownKind` lists the known ones."""
        found = self.kinds.get(name)
        if found is None:
            raise UnknownKind(name, sorted(self.kinds))
        return found

    # -- background readers --------------------------------------------------------------
    def register_reader(self, instrument: str, reader: BackgroundReader) -> None:
        """``reader`` reads ``instrument`` while no run holds it; paused while one does."""
        self._readers[instrument] = reader

    def unregister_reader(self, instrument: str) -> None:
        """Forget the background reader of ``instrument``."""
        self._readers.pop(instrument, None)
        self._paused.discard(instrument)

    # -- what runs put on the instruments -----------------------------------------------
    def add_specimen_listener(self, listener: SpecimenListener) -> None:
        """Tell ``listener`` what every run started from now on puts on its instruments."""
        self._specimen_listeners.append(listener)

    def remove_specimen_listener(self, listener: SpecimenListener) -> None:
        """Stop telling ``listener``."""
        with contextlib.suppress(ValueError):
            self._specimen_listeners.remove(listener)

    async def _announce_loads(self, spec: Kind, params: BaseModel, run_id: str) -> None:
        if not self._specimen_listeners:
            return
        for loaded in await spec.loads(self.station, params):
            for listener in self._specimen_listeners:
                await listener.specimen_loaded(replace(loaded, run_id=run_id))

    # -- claims --------------------------------------------------------------------------
    def holder_of(self, instrument: str) -> RunHolder | None:
        """Who holds ``instrument`` now (``None``: free)."""
        claim = self._claims.get(instrument)
        return None if claim is None else claim.holder

    def ensure_free(self, instruments: tuple[str, ...], parent: str | None = None) -> None:
        """Refuse (:class:`InstrumentBusy`, naming the holder) unless every instrument is
        free, or held by ``parent``."""
        self._check(instruments, parent)

    def _check(self, instruments: tuple[str, ...], parent: str | None) -> None:
        for name in instruments:
            claim = self._claims.get(name)
            if claim is not None and claim.holder.run_id != parent:
                raise InstrumentBusy(name, claim.holder)

    def _claim(self, instruments: tuple[str, ...], holder: RunHolder) -> None:
        for name in instruments:
            self._claims[name] = _Claim(holder, self._claims.get(name))

    def _release(self, instruments: tuple[str, ...], run_id: str) -> list[str]:
        """Drop ``run_id``'s claims; the instruments now entirely free."""
        freed = []
        for name in instruments:
            claim = self._claims.get(name)
            if claim is None or claim.holder.run_id != run_id:
                continue
            if claim.previous is None:
                del self._claims[name]
                freed.append(name)
            else:
                self._claims[name] = claim.previous
        return freed

    async def _pause_readers(self, instruments: tuple[str, ...]) -> None:
        for name in instruments:
            reader = self._readers.get(name)
            if reader is not None and name not in self._paused:
                self._paused.add(name)
                await reader.pause()

    def _resume_readers(self, instruments: list[str]) -> None:
        for name in instruments:
            reader = self._readers.get(name)
            if reader is not None and name in self._paused:
                self._paused.discard(name)
                reader.resume()

    # -- starting ------------------------------------------------------------------------
    async def start(
        self,
        kind: str,
        params: BaseModel | Mapping[str, object],
        operator: str | None = None,
        source: str = "api",
        *,
        parent: str | None = None,
    ) -> str:
        """Start a run; its id once it is running.

        ``pydantic.ValidationError`` for bad parameters (before anything is claimed or
        moves), :class:`UnknownKind`, :class:`InstrumentBusy`, or whatever the kind's
        factory refuses (:class:`~daq.station.errors.Refused`,
        :class:`~daq.station.errors.NoSuchInstrument`)."""
        spec = self.kind(kind)
        valid = spec.validate(params)
        instruments = spec.occupies(self.station, valid)
        if parent is not None and parent not in self.runs:
            raise RunNotLive(f"parent run {parent} is not live in this station")
        async with self._lock:  # one start at a time: check-then-claim cannot interleave
            self._check(instruments, parent)
            pending = RunHolder(f"(starting {kind})", kind, operator, time.time(),
                             self.station.clock.now())
            self._claim(instruments, pending)
            try:
                if parent is None:
                    await self._pause_readers(instruments)
                procedure = await spec.build(self.station, valid, operator, parent)
                await self._announce_loads(spec, valid, procedure.run_id)
            except BaseException:
                self._resume_readers(self._release(instruments, pending.run_id))
                raise
            self._release(instruments, pending.run_id)
            return self._launch(procedure, spec.name, operator, source, parent,
                                instruments or procedure.instruments)

    def adopt(self, procedure: Procedure, *, operator: str | None = None,
              source: str = "station", parent: str | None = None) -> str:
        """Run an already built procedure (a resumed aging run, a legacy caller) under the
        same claims; :class:`InstrumentBusy` when one of its instruments is held."""
        self._check(procedure.instruments, parent)
        return self._launch(procedure, procedure.kind, operator, source, parent,
                            procedure.instruments)

    def _launch(self, procedure: Procedure, kind: str, operator: str | None, source: str,
                parent: str | None, instruments: tuple[str, ...]) -> str:
        run_id = procedure.run_id
        ended = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._drive(procedure, ended),
                                                      name=f"run-{run_id}")
        active = ActiveRun(run_id, kind, instruments, operator, source, time.time(),
                           self.station.clock.now(), parent, procedure, task, ended)
        self.runs[run_id] = active
        self._claim(instruments, active.holder())
        log.info("run %s (%s) started by %s via %s on %s", run_id, kind, operator, source,
                 ", ".join(instruments) or "no instrument")
        return run_id

    async def _drive(self, procedure: Procedure, ended: asyncio.Event) -> Outcome:
        run_id = procedure.run_id
        try:
            try:
                outcome = await procedure.run()
            except asyncio.CancelledError:
                # Only resumable runs are cancelled (station shutdown): suspended, not ended.
                ended.set()
                return Outcome.INTERRUPTED
            except Exception:
                log.exception("procedure %s failed", run_id)
                outcome = Outcome.FAULTED
            ended.set()
            # Whoever waits for the run (a campaign, the queue, the API) reads it from the
            # database next: let the journal store it first, but never longer than the
            # bound, so a database outage cannot hold a finished run open.
            await self.station.recorder.settled(RUN_SETTLE_S)
            return outcome
        finally:
            ended.set()
            active = self.runs.get(run_id)
            if active is not None:
                freed = self._release(active.instruments, run_id)
                if active.parent is None:
                    self._resume_readers(freed)

    # -- following and stopping ----------------------------------------------------------
    def get(self, run_id: str) -> ActiveRun:
        """A run of this station (live or ended); :class:`RunNotLive` if unknown."""
        run = self.runs.get(run_id)
        if run is None:
            raise RunNotLive(f"run {run_id} is not live in this station")
        return run

    def active(self) -> list[ActiveRun]:
        """The live runs, oldest first."""
        return [run for run in self.runs.values() if run.live]

    def is_live(self, run_id: str) -> bool:
        """True while ``run_id`` runs in this station."""
        run = self.runs.get(run_id)
        return run is not None and run.live

    async def abort(self, run_id: str, operator: str | None = None,
                    timeout_s: float = ABORT_TIMEOUT_S, *, why: str | None = None) -> bool:
        """Abort a live run; True once its procedure has ended (its instruments are safe).
        ``why`` (a client's words, such as the signal that made a CLI abort) is added to
        the run's reason.

        The procedure's end is the instrument safe: what True means, within
        ``timeout_s``. Then, bounded by :data:`RUN_SETTLE_S`, its records are stored, so
        the caller can read the run as it ended; a database outage delays that, never
        the safe state."""
        run = self.runs.get(run_id)
        if run is None or not run.live:
            raise RunNotLive(f"run {run_id} is not live in this station")
        reason = f"operator abort by {operator or 'unknown'}"
        run.procedure.abort(f"{reason} ({why})" if why else reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.ended.wait(), timeout_s)
        if run.ended.is_set():
            await asyncio.wait([run.task], timeout=RUN_SETTLE_S + 1.0)
        return run.ended.is_set() or run.task.done()

    async def wait(self, run_id: str, timeout_s: float | None = None) -> Outcome:
        """Wait for a run to end; its outcome."""
        run = self.get(run_id)
        return await asyncio.wait_for(asyncio.shield(run.task), timeout_s)

    def result(self, run_id: str) -> object:
        """The kind's own result of an ended run (``None`` while live)."""
        return self.get(run_id).procedure.result

    async def shutdown(self, timeout_s: float = ABORT_TIMEOUT_S) -> None:
        """Station stopping: abort every live run to its safe state; suspend resumable
        ones (they checkpoint and stay RUNNING, resumed at the next start)."""
        live = self.active()
        for run in live:
            if self.kinds.get(run.kind) is not None and self.kind(run.kind).resumable:
                log.info("suspending %s: the station is stopping", run.run_id)
                run.task.cancel()
            else:
                log.warning("aborting %s: the station is shutting down", run.run_id)
                run.procedure.abort("service shutting down")
        if live:
            await asyncio.wait([r.task for r in live], timeout=timeout_s)
