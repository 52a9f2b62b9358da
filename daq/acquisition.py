"""Acquisition: one asyncio task per instrument that polls it and publishes readings.

An :class:`InstrumentPoller` calls an instrument's ``poll`` function every
``interval_s`` real seconds, stamps the result with *simulated* time, publishes it on
the bus as a :class:`~daq.messages.Reading` carrying the run the instrument is working
for (procedures attach and detach their run), and keeps the latest reading. A procedure
can wait for the next reading; if the poll fails instead, the waiting procedure gets
the typed error, so a garbled reply or a lost link reaches the state machine at once.

On a failed poll the poller publishes an :class:`~daq.messages.InstrumentStatus`
(``offline`` for a lost link or timeout, ``fault`` for a garbled reply or an instrument
error), backs off and reconnects by itself; it goes back ``online`` with the next good
poll. The poll interval is real time on purpose: the communication cadence (and the
press's watchdog) is real even when physics runs 600× faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import InstrumentState, InstrumentStatus, Reading, Value
from drivers.errors import InstrumentConnectionError, InstrumentError, InstrumentTimeout

if TYPE_CHECKING:
    from drivers.lamination_press import LaminationPress, PressReading, PressState

log = logging.getLogger(__name__)

PollFunction = Callable[[], Awaitable[dict[str, Value]]]
ReconnectFunction = Callable[[], Awaitable[None]]


class PollerStopped(RuntimeError):
    """Waited for a reading from a poller that is not running."""


class InstrumentPoller:
    """Polls one instrument on a real-time cadence and publishes what it reads."""

    def __init__(
        self,
        name: str,
        poll: PollFunction,
        interval_s: float,
        clock: SimClock,
        bus: Bus,
        *,
        reconnect: ReconnectFunction | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"poll interval must be > 0 s, got {interval_s}")
        self.name = name
        self.poll = poll
        self.interval_s = interval_s
        self.clock = clock
        self.bus = bus
        self.reconnect = reconnect
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.run_id: str | None = None
        self.polls = 0
        self.errors = 0
        self.reconnects = 0
        self.latest: Reading | None = None
        self.last_error: Exception | None = None
        self.status: InstrumentState | None = None
        self._waiters: list[asyncio.Future[Reading]] = []
        self._task: asyncio.Task[None] | None = None

    # -- run attachment ------------------------------------------------------------------
    def attach_run(self, run_id: str) -> None:
        """Stamp every later reading with ``run_id`` (a procedure starts using the instrument)."""
        self.run_id = run_id

    def detach_run(self, run_id: str | None = None) -> None:
        """Stop stamping readings with a run (only if it is still ``run_id``, when given)."""
        if run_id is None or self.run_id == run_id:
            self.run_id = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the polling task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start polling (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name=f"poll-{self.name}"
            )

    async def stop(self) -> None:
        """Stop polling; anyone waiting for a reading gets :class:`PollerStopped`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_waiters(PollerStopped(f"{self.name}: acquisition stopped"))

    async def __aenter__(self) -> InstrumentPoller:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- waiting for data ------------------------------------------------------------------
    async def next_reading(self, timeout_s: float | None = None) -> Reading:
        """The next reading published after this call; raises the poll's error if it fails.

        ``timeout_s`` is real seconds; on expiry :class:`TimeoutError`.
        """
        if not self.running:
            raise PollerStopped(f"{self.name}: acquisition is not running")
        future: asyncio.Future[Reading] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # reading does, and an operator's abort would be lost.
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    # -- the task ----------------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff_initial_s
        while True:
            started = loop.time()
            try:
                values = await self.poll()
            except Exception as exc:  # any failure of a poll is counted, reported, survived
                self.errors += 1
                self.last_error = exc
                link_lost = isinstance(exc, InstrumentConnectionError | InstrumentTimeout)
                self._set_status("offline" if link_lost else "fault", str(exc))
                self._fail_waiters(exc)
                if not isinstance(exc, InstrumentError):
                    log.exception("%s: poll failed", self.name)  # a bug, not the instrument
                if link_lost:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    await self._reconnect()
                    continue
            else:
                backoff = self.backoff_initial_s
                self.polls += 1
                reading = Reading(self.name, self.clock.now(), values, self.run_id)
                self.latest = reading
                self.bus.publish(reading)
                self._set_status("online", "")
                self._resolve_waiters(reading)
            await asyncio.sleep(max(0.0, started + self.interval_s - loop.time()))

    async def _reconnect(self) -> None:
        if self.reconnect is None:
            return
        try:
            await self.reconnect()
            self.reconnects += 1
        except Exception as exc:  # the next poll reports it; keep backing off
            self.last_error = exc
            log.debug("%s: reconnect failed: %s", self.name, exc)

    def _set_status(self, state: InstrumentState, detail: str) -> None:
        if state == self.status:
            return
        self.status = state
        self.bus.publish(InstrumentStatus(self.name, self.clock.now(), state, detail))

    def _resolve_waiters(self, reading: Reading) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(reading)

    def _fail_waiters(self, exc: Exception) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_exception(exc)


def press_values(reading: PressReading) -> dict[str, Value]:
    """The channels of one press reading: platen temperatures, pressure, ram position."""
    return {
        "temp_top": Value(reading.temp_top_c, "degC"),
        "temp_bottom": Value(reading.temp_bottom_c, "degC"),
        "pressure": Value(reading.pressure_mpa, "MPa"),
        "ram": Value(reading.ram_mm, "mm"),
    }


#: The state each press reported in its latest poll (not a reading channel: a state is
#: not a measurement). SAFE and ESTOP latch until a reset, which the dashboard shows.
_PRESS_STATES: weakref.WeakKeyDictionary[LaminationPress, PressState] = (
    weakref.WeakKeyDictionary())


async def poll_press(press: LaminationPress) -> dict[str, Value]:
    """One ``MEAS:ALL?`` of the press as reading channels (use as a poller's ``poll``);
    the press's own state is kept for :func:`polled_press_state`."""
    reading = await press.measure_all()
    _PRESS_STATES[press] = reading.state
    return press_values(reading)


def polled_press_state(press: LaminationPress) -> PressState | None:
    """The state ``press`` reported in its latest poll (``None`` before the first)."""
    return _PRESS_STATES.get(press)
