"""The station's run queue (bluesky-queueserver is the model): operators add runs, reorder
and remove them, start and stop the queue; the queue starts its items one after the
other through the run engine, and keeps each item's result.

Contract (as queueserver's plan queue):

* Items are addressed by ``uid``. Add at the end, at a position, or before/after another
  queued item; move likewise; remove a queued item (the running one is refused: abort its
  run instead); clear every queued item.
* The parameters are validated by the kind's model when the item is **added** (and the
  instruments it needs resolved), so a bad item is refused then, not when it is reached.
* **Strict order.** The queue always starts its first item. When that item's instrument
  is busy (a run started from the API, the CLI or another client holds it) the item
  waits, showing who holds it (``waiting_for``), and nothing behind it skips ahead.
* **Stop** lets the running item finish; the rest stay queued and the queue is stopped.
* **Failure policy, as queueserver's**: an item that does not end DONE goes to history
  with its outcome, a copy of it goes back to the front of the queue (new uid; not for
  INTERRUPTED, a resumable run that resumes by itself) and the queue stops, so nothing
  runs after a failure until an operator looked. With
  ``ignore_failures`` (queueserver's queue mode of that name; ``DAQ_QUEUE_IGNORE_FAILURES``)
  a FAULTED or INCOMPLETE item goes to history and the queue goes on. An ABORTED item
  (an operator aborted its run) always stops the queue, as queueserver's abort does.
* Each change is stored (``queue_items``, the station's id on every row) and announced
  on MQTT ``…/queue`` (QoS 1, through the durable outbox, in the same transaction).
  A restarted station finds its queued items again, an item that was running when the
  station died in history with its run's outcome (INTERRUPTED), and the queue stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select

from daq.messages import QueueChanged
from daq.mqtt.topics import Topics
from daq.station.errors import InstrumentBusy, Refused, StationError
from daq.station.interface import Station
from daq.station.outcome import Outcome
from daq.storage.models import Run
from daq.storage.outbox import enqueue
from daq.storage.queue_models import QueueItemRow

log = logging.getLogger(__name__)

#: Real seconds between two tries of an item whose instrument is busy.
BUSY_RETRY_S = 0.25
#: Finished items kept in memory for ``GET /api/queue`` (all of them stay in the database).
HISTORY_KEPT = 200
#: Real seconds :meth:`RunQueue.close` waits for the queue to note how its item ended.
CLOSE_TIMEOUT_S = 20.0


class ItemState(StrEnum):
    """Where an item is: waiting in the queue, started, or ended (in history)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"

    @classmethod
    def of(cls, outcome: Outcome) -> ItemState:
        """The history state of an item whose run ended with ``outcome``."""
        if outcome is Outcome.DONE:
            return cls.DONE
        if outcome is Outcome.ABORTED:
            return cls.ABORTED
        return cls.FAILED


class QueueState(StrEnum):
    """The queue as a whole: starting items, finishing the last one, or not running."""

    RUNNING = "running"
    STOPPING = "stopping"  # stop asked: the running item finishes, nothing else starts
    STOPPED = "stopped"


#: Outcomes that ``ignore_failures`` lets the queue go on after.
IGNORABLE = frozenset({Outcome.FAULTED, Outcome.INCOMPLETE})


class QueueError(StationError):
    """A queue operation refused (base of the queue's errors)."""


class ItemNotFound(QueueError):
    """No item of that uid in this station's queue."""


class QueueConflict(QueueError):
    """The operation does not fit the queue's state (remove the running item, start a
    running queue, stop a stopped one)."""


class BadPlacement(QueueError):
    """A position or a before/after uid that does not place the item: ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class BadItem(QueueError):
    """The item cannot be queued (unknown kind, an instrument the station lacks):
    ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Placement:
    """Where an item goes: ``position`` (0 = next, past the end = last), or ``before`` /
    ``after`` a queued item's uid; nothing = at the end. At most one of them."""

    position: int | None = None
    before: str | None = None
    after: str | None = None

    def index_in(self, uids: list[str]) -> int:
        """The index the item takes in a queue of ``uids`` (without the item itself)."""
        given = [n for n, v in (("position", self.position), ("before", self.before),
                                ("after", self.after)) if v is not None]
        if len(given) > 1:
            raise BadPlacement(given[1], f"give one of position, before, after; got "
                                         f"{' and '.join(given)}")
        if self.position is not None:
            if self.position < 0:
                raise BadPlacement("position", f"position {self.position} is negative; "
                                               "0 is the front of the queue")
            return min(self.position, len(uids))
        for name, ref, offset in (("before", self.before, 0), ("after", self.after, 1)):
            if ref is not None:
                if ref not in uids:
                    raise BadPlacement(name, f"{name}: no queued item {ref!r}")
                return uids.index(ref) + offset
        return len(uids)


@dataclass
class QueueItem:
    """One item: what to run and who asked, then the run it started and how it ended."""

    uid: str
    kind: str
    params: dict[str, object]  # as validated by the kind's model, in JSON form
    operator: str | None
    added_wall: float  # real epoch seconds
    state: ItemState = ItemState.QUEUED
    run_id: str | None = None
    outcome: Outcome | None = None
    started_wall: float | None = None
    ended_wall: float | None = None
    message: str | None = None
    #: While it is first in a running queue but its instrument is held: by whom.
    waiting_for: str | None = field(default=None, compare=False)

    def copy(self) -> QueueItem:
        """An independent copy (what readers get)."""
        return replace(self, params=dict(self.params))

    def row(self, station: str, position: int | None) -> QueueItemRow:
        """The item as its database row."""
        return QueueItemRow(
            uid=self.uid, station=station, position=position, state=str(self.state),
            kind=self.kind, params=dict(self.params), operator=self.operator,
            added_wall=self.added_wall, started_wall=self.started_wall,
            ended_wall=self.ended_wall, run_id=self.run_id,
            outcome=str(self.outcome) if self.outcome is not None else None,
            message=self.message)

    @classmethod
    def of_row(cls, row: QueueItemRow) -> QueueItem:
        """The item of a database row."""
        return cls(uid=row.uid, kind=row.kind, params=dict(row.params), operator=row.operator,
                   added_wall=row.added_wall, state=ItemState(row.state), run_id=row.run_id,
                   outcome=Outcome.of(row.outcome) if row.outcome else None,
                   started_wall=row.started_wall, ended_wall=row.ended_wall,
                   message=row.message)


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one moment: its state, the queued items in order, the running one,
    and the history (oldest first)."""

    station: str
    state: QueueState
    ignore_failures: bool
    items: list[QueueItem]
    running: QueueItem | None
    history: list[QueueItem]


class RunQueue:
    """The run queue of one station, started through its run engine."""

    def __init__(self, station: Station, *, ignore_failures: bool = False,
                 busy_retry_s: float = BUSY_RETRY_S) -> None:
        self.station = station
        self.station_id = station.settings.station
        self.ignore_failures = ignore_failures
        self.busy_retry_s = busy_retry_s
        self._queue: list[QueueItem] = []
        self._running: QueueItem | None = None
        self._history: list[QueueItem] = []
        self._state = QueueState.STOPPED
        self._holding = False  # the station is stopping: nothing new starts
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._looping = False  # the loop task is on (set and cleared under the lock)

    # -- reading -------------------------------------------------------------------------
    @property
    def state(self) -> QueueState:
        """Running, stopping or stopped."""
        return self._state

    def snapshot(self) -> QueueSnapshot:
        """The queue now (copies: a caller cannot change the queue through them)."""
        return QueueSnapshot(
            self.station_id, self._state, self.ignore_failures,
            [i.copy() for i in self._queue],
            self._running.copy() if self._running else None,
            [i.copy() for i in self._history])

    def get(self, uid: str) -> QueueItem:
        """An item of this queue (queued, running or in history); :class:`ItemNotFound`."""
        for item in self._all():
            if item.uid == uid:
                return item.copy()
        raise ItemNotFound(f"no item {uid!r} in the queue of station {self.station_id}")

    def _all(self) -> list[QueueItem]:
        running = [self._running] if self._running else []
        return [*self._queue, *running, *self._history]

    async def wait_until(self, condition: Callable[[QueueSnapshot], bool],
                         timeout_s: float | None = None) -> QueueSnapshot:
        """Wait until ``condition`` holds for the queue; the snapshot that satisfied it."""
        async def watch() -> QueueSnapshot:
            async with self._changed:
                while True:
                    snap = self.snapshot()
                    if condition(snap):
                        return snap
                    await self._changed.wait()

        return await asyncio.wait_for(watch(), timeout_s)

    # -- loading (station start) ---------------------------------------------------------
    async def load(self) -> None:
        """Read this station's queue from the database. An item found running (the
        station died while it ran) goes to history with its run's stored outcome
        (INTERRUPTED once recovery closed the run). The queue starts stopped."""
        async with self.station.sessions() as session:
            rows = list(await session.scalars(
                select(QueueItemRow).where(QueueItemRow.station == self.station_id)))
            for row in rows:
                if row.state != ItemState.RUNNING:
                    continue
                outcome = Outcome.INTERRUPTED
                if row.run_id is not None:
                    run = await session.get(Run, row.run_id)
                    if run is not None and run.status != "RUNNING":
                        outcome = Outcome.of(run.status)
                row.state = str(ItemState.of(outcome))
                row.outcome = str(outcome)
                row.ended_wall = time.time()
                row.message = "the station stopped while it ran"
                row.position = None
                log.warning("queue item %s (run %s) was running when the station stopped: "
                            "now %s", row.uid, row.run_id, outcome)
            await session.commit()
        queued = sorted((r for r in rows if r.state == ItemState.QUEUED),
                        key=lambda r: (r.position if r.position is not None else 0, r.added_wall))
        ended = sorted((r for r in rows if r.state not in (ItemState.QUEUED,
                                                            ItemState.RUNNING)),
                       key=lambda r: r.ended_wall or 0.0)
        self._queue = [QueueItem.of_row(r) for r in queued]
        self._history = [QueueItem.of_row(r) for r in ended][-HISTORY_KEPT:]
        self._running = None
        self._state = QueueState.STOPPED

    # -- changing ------------------------------------------------------------------------
    async def add(self, kind: str, params: BaseModel | Mapping[str, object],
                  operator: str | None, placement: Placement | None = None) -> QueueItem:
        """Queue a run. The parameters are validated now (``pydantic.ValidationError``
        names the field); an unknown kind or instrument is :class:`BadItem`."""
        valid = self._validate(kind, params)
        item = QueueItem(uid=str(uuid.uuid4()), kind=kind,
                         params=valid.model_dump(mode="json", exclude_unset=True),
                         operator=operator, added_wall=time.time())
        async with self._lock:
            index = (placement or Placement()).index_in([i.uid for i in self._queue])
            self._queue.insert(index, item)
            await self._store("added", item.uid, operator)
        log.info("queue: %s added %s (%s) at %d", operator, item.uid, kind, index)
        return item.copy()

    def _validate(self, kind: str, params: BaseModel | Mapping[str, object]) -> BaseModel:
        engine = self.station.run_engine
        spec = engine.kinds.get(kind)
        if spec is None:
            raise BadItem("kind", f"unknown run kind {kind!r}; known kinds: "
                                  f"{', '.join(sorted(engine.kinds))}")
        valid = spec.validate(params)
        try:
            spec.occupies(self.station, valid)  # the instrument it names must exist
        except StationError as exc:
            raise BadItem(exc.field if isinstance(exc, Refused) else "params", str(exc)) from None
        return valid

    async def remove(self, uid: str, operator: str | None) -> QueueItem:
        """Take a queued item out of the queue (the running one: abort its run instead)."""
        async with self._lock:
            item = self._queued(uid)
            self._queue.remove(item)
            await self._store("removed", uid, operator, removed=[uid])
        return item.copy()

    async def move(self, uid: str, placement: Placement, operator: str | None) -> QueueItem:
        """Move a queued item to ``placement`` (relative to the other queued items)."""
        async with self._lock:
            item = self._queued(uid)
            if uid in (placement.before, placement.after):
                raise BadPlacement("before" if placement.before == uid else "after",
                                   "an item cannot be placed relative to itself")
            others = [i for i in self._queue if i is not item]
            index = placement.index_in([i.uid for i in others])
            others.insert(index, item)
            self._queue = others
            await self._store("moved", uid, operator)
        return item.copy()

    async def clear(self, operator: str | None) -> int:
        """Remove every queued item (the running one runs on); how many were removed."""
        async with self._lock:
            removed = [i.uid for i in self._queue]
            self._queue = []
            await self._store("cleared", None, operator, removed=removed)
        return len(removed)

    def _queued(self, uid: str) -> QueueItem:
        for item in self._queue:
            if item.uid == uid:
                return item
        if self._running is not None and self._running.uid == uid:
            raise QueueConflict(
                f"item {uid} is running (run {self._running.run_id}): abort the run "
                f"(POST /api/runs/{self._running.run_id}/abort) instead")
        if any(i.uid == uid for i in self._history):
            raise QueueConflict(f"item {uid} has ended; only queued items can change")
        raise ItemNotFound(f"no item {uid!r} in the queue of station {self.station_id}")

    # -- running -------------------------------------------------------------------------
    async def start(self, operator: str | None) -> QueueState:
        """Start running the queue from its first item."""
        async with self._lock:
            if self._holding:
                raise QueueConflict("the station is stopping; the queue cannot start")
            if self._state is QueueState.RUNNING:
                raise QueueConflict("the queue is already running")
            if self._state is QueueState.STOPPING:
                # queueserver's "cancel stop": the running item finishes and the queue goes on
                self._state = QueueState.RUNNING
                await self._store("started", None, operator)
                return self._state
            if not self._queue:
                raise QueueConflict("the queue is empty: add items first")
            self._state = QueueState.RUNNING
            await self._store("started", None, operator)
            if not self._looping:  # a loop still waiting on a busy instrument goes on
                self._looping = True
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name=f"queue-{self.station_id}")
        log.info("queue of %s started by %s", self.station_id, operator)
        return self._state

    async def stop(self, operator: str | None) -> QueueState:
        """Stop the queue: the running item finishes, nothing else starts."""
        async with self._lock:
            if self._state is not QueueState.RUNNING:
                raise QueueConflict(f"the queue is {self._state}, not running")
            self._state = QueueState.STOPPING if self._running else QueueState.STOPPED
            await self._store("stopping" if self._running else "stopped", None, operator)
            self._wake.set()
        log.info("queue of %s: stop asked by %s", self.station_id, operator)
        return self._state

    async def _run(self) -> None:
        try:
            while await self._step():
                pass
        except Exception:
            log.exception("queue of %s failed; stopped", self.station_id)
            async with self._lock:
                self._looping = False
                self._state = QueueState.STOPPED
                await self._store("stopped", None, None)

    async def _step(self) -> bool:
        """Start the first item and see it to its end; False once the queue stops."""
        async with self._lock:
            if self._state is not QueueState.RUNNING or self._holding or not self._queue:
                return await self._stopped()
            item = self._queue[0]
            try:
                run_id = await self.station.run_engine.start(
                    item.kind, item.params, item.operator, "queue")
            except InstrumentBusy as busy:
                # Strict order: the first item waits; nothing behind it goes first.
                if item.waiting_for != str(busy):
                    item.waiting_for = str(busy)
                    await self._notify()
                run_id = None
            except (StationError, ValidationError) as exc:
                self._queue.pop(0)
                self._running = item
                item.waiting_for = None
                item.started_wall = time.time()
                go_on = await self._ended(item, Outcome.FAULTED, f"could not start: {exc}")
                self._looping = go_on
                return go_on
            else:
                self._queue.pop(0)
                item.waiting_for = None
                item.state, item.run_id, item.started_wall = ItemState.RUNNING, run_id, time.time()
                self._running = item
                await self._store("running", item.uid, None)
        if run_id is None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.busy_retry_s):  # cancellable (3.11 wait_for)
                    await self._wake.wait()
            return True
        outcome = await self.station.run_engine.wait(run_id)
        async with self._lock:
            go_on = await self._ended(item, outcome, None)
            self._looping = go_on
            return go_on

    async def _ended(self, item: QueueItem, outcome: Outcome, message: str | None) -> bool:
        """Record how the running item ended; apply the failure policy (under the lock)."""
        item.state, item.outcome, item.ended_wall = ItemState.of(outcome), outcome, time.time()
        item.message = message
        self._running = None
        self._history = [*self._history, item][-HISTORY_KEPT:]
        go_on = outcome is Outcome.DONE or (self.ignore_failures and outcome in IGNORABLE)
        if not go_on and outcome is not Outcome.INTERRUPTED:
            # INTERRUPTED: a resumable run suspended by the station stopping; it resumes
            # by itself at the next start, so no copy of it is queued.
            again = replace(item, uid=str(uuid.uuid4()), params=dict(item.params),
                            state=ItemState.QUEUED, run_id=None,
                            outcome=None, started_wall=None, ended_wall=None,
                            message=f"queued again: {item.uid} ended {outcome}")
            self._queue.insert(0, again)
        if not go_on:
            self._state = QueueState.STOPPED
            log.warning("queue of %s stopped: item %s (run %s) ended %s", self.station_id,
                        item.uid, item.run_id, outcome)
        elif self._state is QueueState.STOPPING:
            self._state = QueueState.STOPPED
        await self._store("ended", item.uid, None, ended=item)
        return go_on and self._state is QueueState.RUNNING

    async def _stopped(self) -> bool:
        self._looping = False
        if self._state is not QueueState.STOPPED:
            self._state = QueueState.STOPPED
            await self._store("stopped", None, None)
        elif self._queue and self._queue[0].waiting_for is not None:
            self._queue[0].waiting_for = None
            await self._notify()
        return False

    # -- station life cycle --------------------------------------------------------------
    def hold(self) -> None:
        """The station is stopping: start nothing more (the running item is the engine's
        to abort)."""
        self._holding = True
        self._wake.set()

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """After the engine stopped its runs: let the queue record how its item ended."""
        self.hold()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait([task], timeout=timeout_s)
        if not done:
            log.warning("queue of %s: its running item did not end in %.0f s",
                        self.station_id, timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- storing and announcing ----------------------------------------------------------
    async def _store(self, change: str, uid: str | None, operator: str | None, *,
                     removed: list[str] | None = None, ended: QueueItem | None = None) -> None:
        """Write the queue (positions, states) and its MQTT announcement in one transaction."""
        async with self.station.sessions() as session:
            if removed:
                await session.execute(delete(QueueItemRow).where(
                    QueueItemRow.uid.in_(removed), QueueItemRow.station == self.station_id))
            for position, item in enumerate(self._queue):
                await session.merge(item.row(self.station_id, position))
            for other in (self._running, ended):
                if other is not None:
                    await session.merge(other.row(self.station_id, None))
            now = self.station.clock.now()
            await enqueue(session, Topics(self.station.settings.mqtt_prefix).queue, {
                "ts": now, "event": "queue_changed", "station": self.station_id,
                "change": change, "uid": uid, "by": operator, "state": str(self._state),
                "queued": [i.uid for i in self._queue],
                "running": self._running.uid if self._running else None,
                **({"outcome": str(ended.outcome), "run_id": ended.run_id} if ended else {}),
            }, created_ts=now)
            await session.commit()
        self.station.publisher.wake_outbox()  # committed: deliver it now, not at the poll
        self.station.bus.publish(QueueChanged(self.station_id, now, change, str(self._state)))
        await self._notify()

    async def _notify(self) -> None:
        self._wake.set()
        async with self._changed:
            self._changed.notify_all()


async def read_queue(station: Station, station_id: str) -> QueueSnapshot:
    """Another station's queue as stored (read-only; its running/stopped state is that
    station's own, so it is given as stopped unless an item is running)."""
    async with station.sessions() as session:
        rows = list(await session.scalars(
            select(QueueItemRow).where(QueueItemRow.station == station_id)))
    items = [QueueItem.of_row(r) for r in sorted(
        (r for r in rows if r.state == ItemState.QUEUED), key=lambda r: r.position or 0)]
    running = next((QueueItem.of_row(r) for r in rows if r.state == ItemState.RUNNING), None)
    history = [QueueItem.of_row(r) for r in sorted(
        (r for r in rows if r.state not in (ItemState.QUEUED, ItemState.RUNNING)),
        key=lambda r: r.ended_wall or 0.0)][-HISTORY_KEPT:]
    state = QueueState.RUNNING if running else QueueState.STOPPED
    return QueueSnapshot(station_id, state, False, items, running, history)
