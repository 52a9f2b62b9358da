"""Batched storage of readings: bus subscription → bounded buffer → database.

One row per channel. A batch is written when ``batch_size`` rows are waiting or the
oldest waiting row is ``flush_interval_s`` (real seconds) old, in one transaction that
also advances ``runs.readings_stored`` / ``runs.last_reading_ts``. Rows go in through the
driver's bulk path (``executemany`` on SQLite, ``COPY`` on PostgreSQL) or, with
``method="core"``, through SQLAlchemy Core executemany.

While the database is locked or down the writer keeps draining the bus into its buffer
(bounded by ``max_buffer_rows``; the oldest rows beyond it are dropped and counted),
retries with back-off and catches up by itself. A crash loses at most what is buffered:
the batch in flight and what arrived since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, case, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daq.bus import Bus, Subscription
from daq.config import Settings
from daq.messages import Message, Reading
from daq.storage.errors import is_transient
from daq.storage.models import ReadingRow, Run

log = logging.getLogger(__name__)

#: A reading row: run_id, instrument, channel, ts, value, unit, replayed.
Row = tuple[str | None, str, str, float, float, str, bool]

COLUMNS = ("run_id", "instrument", "channel", "ts", "value", "unit", "replayed")
_SQLITE_INSERT = (
    f"INSERT INTO readings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
_SQLITE_ADVANCE = (
    "UPDATE runs SET readings_stored = readings_stored + ?1, last_reading_ts = "
    "CASE WHEN last_reading_ts IS NULL OR last_reading_ts < ?2 THEN ?2 ELSE last_reading_ts END "
    "WHERE id = ?3"
)
_PG_ADVANCE = (
    "UPDATE runs SET readings_stored = readings_stored + $2, "
    "last_reading_ts = GREATEST(COALESCE(last_reading_ts, $3), $3) WHERE id = $1"
)
_runs = cast(Table, Run.__table__)
_readings = cast(Table, ReadingRow.__table__)
_ADVANCE_RUN = (
    update(_runs)
    .where(_runs.c.id == bindparam("b_run_id"))
    .values(
        readings_stored=_runs.c.readings_stored + bindparam("b_rows"),
        last_reading_ts=case(
            (
                _runs.c.last_reading_ts.is_(None)
                | (_runs.c.last_reading_ts < bindparam("b_last_ts")),
                bindparam("b_last_ts"),
            ),
            else_=_runs.c.last_reading_ts,
        ),
    )
)

#: Messages taken from the subscription in one go.
DRAIN_LIMIT = 20_000

#: Consecutive failures of a non-transient kind after which a batch is given up (counted).
POISON_LIMIT = 5


@dataclass
class WriterStats:
    """Counters of a :class:`ReadingWriter` (for ``/metrics`` and the benches)."""

    readings_received: int = 0
    rows_written: int = 0
    batches: int = 0
    failures: int = 0
    rows_dropped: int = 0
    rows_rejected: int = 0
    buffered: int = 0
    last_flush_wall: float | None = None
    last_error: str | None = None


class ReadingWriter:
    """Writes the readings of a bus subscription to the ``readings`` table in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        subscription: Subscription[Message],
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        max_buffer_rows: int = 1_000_000,
        method: Literal["bulk", "core"] = "bulk",
        max_backoff_s: float = 2.0,
    ) -> None:
        if batch_size <= 0 or flush_interval_s <= 0 or max_buffer_rows < batch_size:
            raise ValueError("need batch_size > 0, flush_interval_s > 0, buffer ≥ batch")
        self.engine = engine
        self.subscription = subscription
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer_rows = max_buffer_rows
        self.method = method
        self.max_backoff_s = max_backoff_s
        self.stats = WriterStats()
        self._backend = engine.dialect.name
        self._buffer: deque[Row] = deque()
        self._since: float | None = None  # monotonic time the oldest buffered row arrived
        self._retry_at = 0.0
        self._backoff_s = 0.05
        self._poison = 0
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()  # flush() may run beside the task
        self._held: AsyncConnection | None = None
        #: Shared with the recorder that creates run rows (``DbRecorder.run_rows_lock``),
        #: so that a batch and a run row's creation never interleave.
        self.run_rows_lock: asyncio.Lock | None = None

    def oldest_buffered_age_s(self) -> float:
        """Real seconds the oldest reading not yet written has waited (0 if none)."""
        return 0.0 if self._since is None else max(0.0, time.monotonic() - self._since)

    @classmethod
    def from_settings(
        cls, engine: AsyncEngine, bus: Bus, settings: Settings, **kwargs: Any
    ) -> ReadingWriter:
        """A writer on a new ``storage`` subscription, batch size and interval from settings."""
        subscription = bus.subscribe("storage", (Reading,), maxsize=kwargs.pop("maxsize", 100_000))
        return cls(
            engine,
            subscription,
            batch_size=settings.readings_batch_size,
            flush_interval_s=settings.readings_flush_interval_s,
            **kwargs,
        )

    # -- intake ---------------------------------------------------------------------

    def _take(self, messages: list[Message]) -> None:
        if not messages:
            return
        buffer = self._buffer
        rejected = 0
        for message in messages:
            if not isinstance(message, Reading):
                continue
            self.stats.readings_received += 1
            try:
                rejected += self._rows_of(message, buffer)
            except Exception:  # a reading built wrongly by a driver must not stop storage
                rejected += 1
        if rejected:
            if self.stats.rows_rejected == 0:
                log.warning("malformed reading values rejected (not finite numbers)")
            self.stats.rows_rejected += rejected
        if self._since is None and buffer:
            self._since = time.monotonic()
        excess = len(buffer) - self.max_buffer_rows
        if excess > 0:
            for _ in range(excess):
                buffer.popleft()
            if self.stats.rows_dropped == 0:
                log.error("reading buffer full (%d rows): dropping the oldest", len(buffer))
            self.stats.rows_dropped += excess
        self.stats.buffered = len(buffer)

    @staticmethod
    def _rows_of(reading: Reading, buffer: deque[Row]) -> int:
        """Append the reading's rows; return how many values were rejected."""
        run_id = None if reading.run_id is None else str(reading.run_id)
        instrument, replayed = str(reading.instrument), bool(reading.replayed)
        ts = float(reading.ts)
        if not math.isfinite(ts):
            return len(reading.values)
        rejected = 0
        for channel, value in reading.values.items():
            try:
                v = float(value.v)
            except (TypeError, ValueError, AttributeError):
                rejected += 1
                continue
            if not math.isfinite(v):
                rejected += 1
                continue
            buffer.append((run_id, instrument, str(channel), ts, v, str(value.unit), replayed))
        return rejected

    def _drain_subscription(self) -> None:
        # Bounded, so one drain never holds the event loop for long.
        self._take(self.subscription.get_batch(DRAIN_LIMIT))

    # -- writing --------------------------------------------------------------------

    @staticmethod
    def _per_run(rows: list[Row]) -> list[tuple[str, int, float]]:
        """(run_id, rows, newest ts) of each run in a batch."""
        per_run: dict[str, list[float]] = {}
        for row in rows:
            run_id = row[0]
            if run_id is not None:
                entry = per_run.get(run_id)
                if entry is None:
                    per_run[run_id] = [1.0, row[3]]
                else:
                    entry[0] += 1
                    if row[3] > entry[1]:
                        entry[1] = row[3]
        return [(rid, int(n), last) for rid, (n, last) in per_run.items()]

    async def _driver(self) -> Any:
        """The DBAPI driver connection (aiosqlite / asyncpg) the bulk path keeps open."""
        if self._held is None:
            self._held = await self.engine.connect()
        raw = await self._held.get_raw_connection()
        return raw.driver_connection

    async def _release(self) -> None:
        """Give the held connection up (after a failure a fresh one is taken next time)."""
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                await held.invalidate()
            with contextlib.suppress(Exception):
                await held.close()

    async def _write(self, rows: list[Row]) -> None:
        per_run = self._per_run(rows)
        async with self.run_rows_lock or contextlib.nullcontext():
            if self.method == "core":
                await self._write_core(rows, per_run)
                return
            try:
                driver = await self._driver()
                if self._backend == "sqlite":
                    await self._write_sqlite(driver, rows, per_run)
                else:
                    await self._write_postgres(driver, rows, per_run)
            except BaseException:
                await self._release()
                raise

    @staticmethod
    async def _write_sqlite(driver: Any, rows: list[Row],
                            per_run: list[tuple[str, int, float]]) -> None:
        # One thread hop per statement on aiosqlite: BEGIN, two executemany, COMMIT.
        await driver.execute("BEGIN IMMEDIATE")
        try:
            await driver.executemany(_SQLITE_INSERT, rows)
            if per_run:
                await driver.executemany(
                    _SQLITE_ADVANCE, [(n, last, rid) for rid, n, last in per_run]
                )
            await driver.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await driver.rollback()
            raise

    @staticmethod
    async def _write_postgres(driver: Any, rows: list[Row],
                              per_run: list[tuple[str, int, float]]) -> None:
        async with driver.transaction():
            await driver.copy_records_to_table("readings", records=rows, columns=COLUMNS)
            if per_run:
                await driver.executemany(_PG_ADVANCE, per_run)

    async def _write_core(self, rows: list[Row], per_run: list[tuple[str, int, float]]) -> None:
        async with self.engine.begin() as conn:
            records = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
            await conn.execute(insert(_readings), records)
            if per_run:
                await conn.execute(
                    _ADVANCE_RUN,
                    [{"b_run_id": rid, "b_rows": n, "b_last_ts": last} for rid, n, last in per_run],
                )

    async def _write_due(self, force: bool) -> bool:
        """Write full batches (all buffered rows if the interval passed or ``force``).

        Returns False if a write failed (the rows stay buffered for the retry)."""
        async with self._write_lock:
            return await self._write_due_locked(force)

    async def _write_due_locked(self, force: bool) -> bool:
        flush_all = force or (
            self._since is not None and time.monotonic() - self._since >= self.flush_interval_s
        )
        while self._buffer:
            if len(self._buffer) < self.batch_size and not flush_all:
                return True
            n = min(self.batch_size, len(self._buffer))
            rows = [self._buffer[i] for i in range(n)]
            # Shielded: a cancel (shutdown) must not abandon a batch the database may already
            # have committed, or flush() would write it twice.
            attempt = asyncio.ensure_future(self._write(rows))
            try:
                await asyncio.shield(attempt)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await attempt
                if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
                    self._written(n)
                raise
            except Exception as exc:
                self._failed(exc, n)
                return False
            self._written(n)
            self._drain_subscription()
        return True

    def _failed(self, exc: Exception, n: int) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc).splitlines()[0] if str(exc) else repr(exc)
        if is_transient(exc):
            self._poison = 0
            log.warning("readings not stored yet (%s); retry in %.2f s",
                        self.stats.last_error, self._backoff_s)
        else:
            self._poison += 1
            log.exception("storing %d readings failed", n)
            if self._poison >= POISON_LIMIT:
                for _ in range(n):
                    self._buffer.popleft()
                self.stats.rows_dropped += n
                self._poison = 0
                log.error("gave up on a batch of %d readings after %d failures", n, POISON_LIMIT)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
        self.stats.buffered = len(self._buffer)

    def _written(self, n: int) -> None:
        for _ in range(n):
            self._buffer.popleft()
        self._poison = 0
        self._backoff_s = 0.05
        self.stats.rows_written += n
        self.stats.batches += 1
        self.stats.last_flush_wall = time.time()
        self.stats.buffered = len(self._buffer)
        # Rows that arrived during the write start their own interval.
        self._since = time.monotonic() if self._buffer else None

    # -- the task -------------------------------------------------------------------

    async def run(self) -> None:
        """Consume the subscription until cancelled; never ends on an error of its own."""
        while True:
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading writer failed; carrying on")
                self.stats.failures += 1
                await asyncio.sleep(0.1)

    async def _run(self) -> None:
        sub = self.subscription
        while True:
            if not self._buffer and sub.depth() == 0:
                self._take([await sub.get()])
            self._drain_subscription()
            now = time.monotonic()
            if now >= self._retry_at:
                await self._write_due(force=False)
                now = time.monotonic()
            waits = [self.flush_interval_s]
            if self._since is not None:
                waits.append(self._since + self.flush_interval_s - now)
            if self._retry_at > now:
                waits.append(self._retry_at - now)
            timeout = max(0.0, min(waits)) if self._buffer else None
            if sub.depth() == 0:
                with contextlib.suppress(TimeoutError):
                    # Not wait_for: on Python 3.11 it can swallow the cancel that stops
                    # this task when the message arrives at the same moment.
                    async with asyncio.timeout(timeout):
                        self._take([await sub.get()])

    def start(self) -> asyncio.Task[None]:
        """Run the writer as a task (``stop()`` ends it and flushes)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="reading-writer")
        return self._task

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Write everything received so far, retrying for up to ``timeout_s``.

        Returns True if nothing is left buffered."""
        deadline = time.monotonic() + timeout_s
        self._drain_subscription()
        try:
            while self._buffer:
                if await self._write_due(force=True):
                    break
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(max(0.0, min(self._retry_at, deadline) - time.monotonic()))
            return not self._buffer
        finally:
            if self._task is None:  # not running: do not keep a connection checked out
                await self._release()

    async def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the task and flush what is buffered (shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            return await self.flush(timeout_s)
        finally:
            await self._release()
