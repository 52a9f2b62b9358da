"""The journal: every record of the station passes through it on the way to the database.

A procedure appends a record and goes on at once; one writer task applies the records to
the database *in the order they were appended*. While the database answers, records wait
in memory (at most ``max_memory`` of them). When the database is slow (a write takes
longer than ``slow_after_s``), failing, or memory is full, new records go to a local
append-only file instead (JSON lines, ``journal.jsonl`` under the journal directory),
written and flushed on append and fsync'd once per event-loop turn. The writer drains
memory first, then the file, in order; once the file is drained it is truncated and
records go to memory again. A station restarted with a non-empty file drains it first.

Each record carries an id (uuid4); the sink applies a record and remembers its id in the
same transaction, so a record applied twice (a crash after the commit, before the file
was advanced) is skipped the second time.

The records cannot be kept at all only when the file cannot be written or has reached
``max_spill_bytes``: then the journal keeps them in memory past its bound (never drops
one), logs an error, and calls ``on_lost`` so that the station makes its live
instruments safe. A record the database refuses for good (not a transient fault) is
written to ``rejected.jsonl`` beside the file, logged and counted, and the writer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from daq.record import JournalRecord

log = logging.getLogger(__name__)

#: Name of the spill file inside the journal directory.
SPILL_NAME = "journal.jsonl"
#: Name of the file that keeps records the database refused for good.
REJECTED_NAME = "rejected.jsonl"


class JournalSink(Protocol):
    """Where the writer applies records: all of a batch in one transaction, skipping ids
    it has applied before; raises if nothing was applied."""

    async def apply(self, records: Sequence[JournalRecord]) -> None:
        """Apply ``records`` in order, idempotently, in one transaction."""


class JournalFull(Exception):
    """The spill file has reached its size bound."""


@dataclass
class JournalStats:
    """Counters of a journal since it started."""

    appended: int = 0
    applied: int = 0
    spilled: int = 0
    write_failures: int = 0
    rejected: int = 0
    kept_over_bound: int = 0


def _os_errors_transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError | TimeoutError)


@dataclass
class _Batch:
    records: list[JournalRecord]
    #: File offset after the batch when it was read from the file, else None (memory).
    file_end: int | None = None
    from_overflow: bool = False


class Journal:
    """Bounded in memory, spilling to ``directory/journal.jsonl``; one writer drains it."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_memory: int = 1000,
        max_spill_bytes: int = 256 * 1024 * 1024,
        slow_after_s: float = 1.0,
        batch_size: int = 100,
        is_transient: Callable[[BaseException], bool] = _os_errors_transient,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        if max_memory < 1:
            raise ValueError("max_memory must be at least 1")
        self.directory = Path(directory)
        self.path = self.directory / SPILL_NAME
        self.rejected_path = self.directory / REJECTED_NAME
        self.max_memory = max_memory
        self.max_spill_bytes = max_spill_bytes
        self.slow_after_s = slow_after_s
        self.batch_size = batch_size
        self.is_transient = is_transient
        self.on_lost = on_lost
        self.stats = JournalStats()
        #: Why records cannot be kept right now (``None`` while they can).
        self.lost: str | None = None
        #: Why the database is not keeping up right now (``None`` while it is).
        self.trouble: str | None = None
        self._mem: deque[JournalRecord] = deque()
        self._overflow: deque[JournalRecord] = deque()  # after the file, if it failed
        self._spilling = False
        self._file_records = 0
        self._read_pos = 0
        self._write_pos = 0
        self._file_head_wall: float | None = None
        self._fh: Any = None  # binary append handle of the spill file
        self._fsync_scheduled = False
        self._seq = 0
        self._done_seq = -1
        self._progress = asyncio.Event()
        self._wake = asyncio.Event()
        self._sink: JournalSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._single_left = 0
        self._load()

    # -- what others see -----------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Records not yet in the database (memory, file and over-bound)."""
        return len(self._mem) + self._file_records + len(self._overflow)

    @property
    def in_memory(self) -> int:
        """Records held in memory (at most ``max_memory`` unless the file failed)."""
        return len(self._mem) + len(self._overflow)

    @property
    def spilling(self) -> bool:
        """True while new records go to the file."""
        return self._spilling

    @property
    def spilled_pending(self) -> int:
        """Records in the spill file not yet in the database."""
        return self._file_records

    def oldest_age_s(self, now_wall: float | None = None) -> float:
        """Real seconds the oldest record not yet in the database has waited (0 if none)."""
        now = time.time() if now_wall is None else now_wall
        if self._mem:
            return max(0.0, now - self._mem[0].appended_wall)
        if self._file_records:
            if self._file_head_wall is None:
                head = self._read_file(self._read_pos, 1)[0]
                self._file_head_wall = head[0].appended_wall if head else None
            if self._file_head_wall is not None:
                return max(0.0, now - self._file_head_wall)
        if self._overflow:
            return max(0.0, now - self._overflow[0].appended_wall)
        return 0.0

    # -- appending -----------------------------------------------------------------------
    def append(self, op: str, body: dict[str, Any]) -> JournalRecord:
        """Add a record; never waits. Raises nothing: if it cannot be kept on file it is
        kept in memory, and ``on_lost`` says so."""
        record = JournalRecord(self._seq, str(uuid.uuid4()), op, body, time.time())
        self._seq += 1
        self.stats.appended += 1
        if self._overflow:
            self._keep_over_bound(record, None)
        elif self._spilling or self.trouble is not None or len(self._mem) >= self.max_memory:
            try:
                self._spill(record)
            except (OSError, JournalFull) as exc:
                self._keep_over_bound(record, exc)
        else:
            self._mem.append(record)
        self._wake.set()
        return record

    def _spill(self, record: JournalRecord) -> None:
        line = record.to_line()
        if self._write_pos + len(line) > self.max_spill_bytes:
            raise JournalFull(f"spill file {self.path} reached {self.max_spill_bytes} bytes")
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open while spilling
        if not self._spilling:
            log.warning("journal: database slow or down (%s); spilling records to %s",
                        self.trouble or "memory full", self.path)
        self._fh.write(line)
        self._fh.flush()  # in the kernel now: survives a crash of this process
        self._write_pos += len(line)
        self._file_records += 1
        self._spilling = True
        self.stats.spilled += 1
        self._schedule_fsync()

    def _schedule_fsync(self) -> None:
        # One fsync per loop turn, however many records were spilled in it.
        if self._fsync_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._fsync()
            return
        self._fsync_scheduled = True
        loop.call_soon(self._fsync)

    def _fsync(self) -> None:
        self._fsync_scheduled = False
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError as exc:
                self._lose(f"cannot fsync {self.path}: {exc}")

    def _keep_over_bound(self, record: JournalRecord, exc: BaseException | None) -> None:
        # Order: if the file holds records, these come after them.
        if self._spilling:
            self._overflow.append(record)
        else:
            self._mem.append(record)
        self.stats.kept_over_bound += 1
        if exc is not None or self.lost is None:
            self._lose(f"records cannot be kept: {exc or 'spill file failed earlier'}")

    def _lose(self, reason: str) -> None:
        first = self.lost is None
        self.lost = reason
        if first:
            log.error("journal: %s; %d records held in memory only", reason, self.in_memory)
            if self.on_lost is not None:
                self.on_lost(reason)

    # -- the file ------------------------------------------------------------------------
    def _load(self) -> None:
        """Adopt a spill file left by an earlier run (its records are the oldest)."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        count = 0
        last_seq = -1
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # a torn last line (crash mid-write): never acknowledged whole
            try:
                record = JournalRecord.from_line(data[pos:nl])
            except (ValueError, KeyError, TypeError):
                log.error("journal: unreadable line at byte %d of %s; stopping there",
                          pos, self.path)
                break
            last_seq = max(last_seq, record.seq)
            count += 1
            pos = nl + 1
            good_end = pos
        if good_end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
        self._file_records = count
        self._write_pos = good_end
        self._spilling = count > 0
        self._seq = last_seq + 1
        if count:
            log.warning("journal: %d records left in %s from an earlier run; draining them "
                        "first", count, self.path)

    def _read_file(self, pos: int, limit: int) -> tuple[list[JournalRecord], int]:
        records: list[JournalRecord] = []
        with open(self.path, "rb") as fh:
            fh.seek(pos)
            while len(records) < limit and pos < self._write_pos:
                line = fh.readline()
                if not line.endswith(b"\n"):
                    break
                pos += len(line)
                records.append(JournalRecord.from_line(line))
        return records, pos

    def _truncate_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        with open(self.path, "r+b") as fh:
            fh.truncate(0)
            os.fsync(fh.fileno())
        self._read_pos = self._write_pos = 0
        self._file_head_wall = None
        self._spilling = False
        log.info("journal: spill file drained; records go to memory again")

    # -- the writer ----------------------------------------------------------------------
    def start(self, sink: JournalSink) -> None:
        """Start the writer task that drains the journal into ``sink``."""
        self._sink = sink
        self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-writer")

    async def settled(self, timeout_s: float | None = None) -> bool:
        """Wait until every record appended so far is in the database; False on timeout."""
        target = self._seq - 1
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._done_seq < target and self.depth:
            self._progress.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Drain for up to ``timeout_s``, stop the writer, and keep what is left on file
        (so that the next start drains it)."""
        if self._task is not None:
            await self.settled(timeout_s)
            self._task.cancel()
            # Bounded: a writer stuck in a database call that ignores cancellation must
            # not keep the records below from reaching the file.
            done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("journal: the database writer ended with %r",
                                task.exception())
            if not done:
                log.warning("journal: the database writer did not stop within %.0f s; "
                            "keeping its records on file", timeout_s)
            self._task = None
        try:
            self._persist_pending()
        except OSError as exc:
            log.error("journal: %d records could not be kept on file at stop: %s",
                      self.depth, exc)
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _persist_pending(self) -> None:
        """Write memory + unread file + over-bound records, in order, as the new file."""
        if not self._mem and not self._overflow:
            if self._fh is not None:
                os.fsync(self._fh.fileno())
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "wb") as out:
            for record in self._mem:
                out.write(record.to_line())
            if self._file_records:
                with open(self.path, "rb") as src:
                    src.seek(self._read_pos)
                    out.write(src.read(self._write_pos - self._read_pos))
            for record in self._overflow:
                out.write(record.to_line())
            out.flush()
            os.fsync(out.fileno())
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        kept = self.depth
        self._mem.clear()
        self._overflow.clear()
        self._read_pos, self._write_pos = 0, self.path.stat().st_size
        self._file_records, self._spilling = kept, kept > 0
        log.warning("journal: %d records kept in %s for the next start", kept, self.path)

    def _next_batch(self) -> _Batch | None:
        limit = 1 if self._single_left > 0 else self.batch_size
        if self._mem:
            return _Batch([self._mem[i] for i in range(min(limit, len(self._mem)))])
        if self._file_records:
            records, end = self._read_file(self._read_pos, min(limit, self._file_records))
            if records:
                return _Batch(records, file_end=end)
            # Nothing readable where records should be: the file was damaged under us.
            self._lose(f"spill file {self.path} unreadable at byte {self._read_pos}")
            self._file_records = 0
        if self._overflow:
            return _Batch([self._overflow[i] for i in range(min(limit, len(self._overflow)))],
                          from_overflow=True)
        return None

    def _advance(self, batch: _Batch) -> None:
        n = len(batch.records)
        if batch.file_end is not None:
            self._read_pos = batch.file_end
            self._file_records -= n
            self._file_head_wall = None
        elif batch.from_overflow:
            for _ in range(n):
                self._overflow.popleft()
        else:
            for _ in range(n):
                self._mem.popleft()
        self._done_seq = max(self._done_seq, batch.records[-1].seq)
        self._single_left = max(0, self._single_left - n)
        if self._spilling and self._file_records == 0:
            try:
                self._truncate_file()
            except OSError as exc:
                self._lose(f"cannot truncate {self.path}: {exc}")
            else:
                # Records kept over the bound came after the file: they are next in order.
                self._mem.extend(self._overflow)
                self._overflow.clear()
        if self.lost is not None and not self._overflow and not self._spilling:
            log.warning("journal: records are kept again (%s is over)", self.lost)
            self.lost = None
        self._progress.set()

    def _reject(self, record: JournalRecord, exc: BaseException) -> None:
        self.stats.rejected += 1
        log.error("journal: the database refused record %s (%s %s): %s; kept in %s",
                  record.id, record.op, record.body.get("run_id"), exc, self.rejected_path)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.rejected_path, "ab") as fh:
                fh.write(record.to_line())
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as write_exc:
            self._lose(f"cannot keep a refused record in {self.rejected_path}: {write_exc}")

    async def _run(self) -> None:
        assert self._sink is not None
        delay = 0.05
        while True:
            batch = self._next_batch()
            if batch is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._apply(batch.records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.write_failures += 1
                if self.is_transient(exc):
                    self._set_trouble(f"database write failing: {str(exc).splitlines()[0]}")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                if len(batch.records) > 1:
                    self._single_left = len(batch.records)  # find the one it refuses
                    continue
                self._reject(batch.records[0], exc)
            else:
                self.stats.applied += len(batch.records)
            delay = 0.05
            if self.trouble is not None:
                log.warning("journal: the database keeps up again (%s is over)", self.trouble)
            self.trouble = None
            self._advance(batch)

    async def _apply(self, records: list[JournalRecord]) -> None:
        assert self._sink is not None
        task = asyncio.ensure_future(self._sink.apply(records))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.slow_after_s)
            if not done:
                self._set_trouble(f"a database write has taken more than {self.slow_after_s:g} s")
            await task
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise

    def _set_trouble(self, why: str) -> None:
        if self.trouble is None:
            log.warning("journal: %s; records will spill to %s", why, self.path)
        self.trouble = why
