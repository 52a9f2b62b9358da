"""How a CLI command runs its work: through the station at ``DAQ_STATION_URL``, or,
when nothing answers there, through the same station started in-process for the
command's duration (it says so in one line).

Either way the command goes the same path: the live stream opened first, the run
started with ``POST /api/runs``, its messages fed to a view (a progress bar), Ctrl-C
or SIGTERM turned into ``POST /api/runs/{id}/abort`` and a wait until the run has
ended (its instrument safe), then the run read back as stored.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from rich.progress import Progress

from daq.cli.output import err_console
from daq.client import (
    NotAuthorized,
    Refused,
    RunDetail,
    RunStarted,
    Station,
    StationError,
    StreamMessage,
    StreamReading,
    load_token,
    station_answers,
    station_url,
)
from daq.config import InstrumentConfig, Settings
from daq.station.lookup import kind_of
from daq.station.simulation import door_beside


class RunView(Protocol):
    """What shows a run's progress: entered once the station accepted the run, then fed
    every message of the run as it arrives."""

    def __enter__(self) -> RunView:
        """Start showing."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop showing."""

    def update(self, message: StreamMessage) -> None:
        """Show ``message``."""


class NoView:
    """Shows nothing (``--json``)."""

    def __enter__(self) -> NoView:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def update(self, message: StreamMessage) -> None:
        """Ignore ``message``."""


class ProgressView:
    """A :class:`RunView` drawn as a rich progress bar: shown from entering to leaving;
    a kind's view says in ``update`` how a message moves it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def update(self, message: StreamMessage) -> None:
        """Nothing moves a plain bar."""


@dataclass
class Followed:
    """A run followed to its end: its stored record and what the stream showed."""

    record: RunDetail
    real_s: float
    time_scale: float
    #: The simulated time of the run's last reading seen live (None: none seen).
    last_reading_ts: float | None
    #: Messages the station dropped for this client while it fell behind.
    dropped: int
    in_process: bool
    #: The signal that made this command abort the run (``SIGINT``, ``SIGTERM``), if any.
    signal: str | None = None


def _quiet_station_logs() -> None:
    """An in-process station logs like ``daq run`` does, but only its warnings, one line
    each, prefixed so they read as the station's and not the command's."""
    logging.basicConfig(level=logging.WARNING, format="station: %(message)s")
    for noisy in ("alembic", "amqtt", "transitions", "uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@asynccontextmanager
async def open_station(fallback: Callable[[], Settings], *, background: bool = False,
                       prepare: Callable[[Settings], Awaitable[Settings]] | None = None,
                       ) -> AsyncIterator[tuple[Station, bool]]:
    """The station to work with, and whether it runs in this process.

    ``fallback`` gives the settings of an in-process station, used only if nothing
    answers at the URL (``prepare`` adjusts them first, as a campaign sets its clock);
    ``background``: that station also captures front-panel peels and resumes aging runs,
    as ``daq run`` does."""
    async with running_station() as running:
        if running is not None:
            yield running, False
            return
    url = station_url()
    settings = fallback()
    if prepare is not None:
        settings = await prepare(settings)
    err_console.print(f"no station at {url}: running an in-process station for this command",
                      soft_wrap=True, highlight=False)
    _quiet_station_logs()
    from daq.api.local import local_station

    async with local_station(settings, background=background) as local, \
            Station(local.url, local.token) as station:
        yield station, True
        health = await station.health()
        if "broker" in health.degraded:
            err_console.print(
                "[yellow]warning:[/] the MQTT broker is not reachable "
                f"({health.degraded['broker']}): what this command recorded waits in the "
                "outbox, and a station publishes it when it runs", soft_wrap=True)


@asynccontextmanager
async def running_station() -> AsyncIterator[Station | None]:
    """The station at ``DAQ_STATION_URL``, logged in, for a command that needs no run of
    its own (a status, a reset, a pull-out); ``None`` when none answers there."""
    url = station_url()
    if not await station_answers(url):
        yield None
        return
    token = load_token(url)
    if not token:
        raise NotAuthorized(401, f"not logged in to the station at {url}: run `daq login` "
                            "(or set DAQ_TOKEN)")
    async with Station(url, token) as station:
        yield station


def with_only(settings: Settings, driver: str, name: str | None, resource: str | None,
              default_name: str, **config: float) -> Settings:
    """``settings`` for a command's own station, with only its instrument of ``driver``:
    the one at ``resource`` (called ``name`` or ``default_name``; ``config`` such as its
    poll interval), else the configured one called ``name`` (else the first), else none
    at all (the station then runs the simulators)."""
    if resource:
        # A simulator in another process (``daq simulate``) announces its side door beside
        # its link: the command's station then tells it what each specimen is made of.
        announced = door_beside(resource) is not None
        cfg = InstrumentConfig.model_validate({"driver": driver, "resource": resource,
                                               "simulated": announced, **config})
        return settings.model_copy(update={"instruments": {name or default_name: cfg}})
    mine = {n: c for n, c in settings.instruments.items() if kind_of(c.driver) == driver}
    if not mine:
        return settings.model_copy(update={"instruments": {}})
    key = name if name in mine else next(iter(mine))
    return settings.model_copy(update={"instruments": {key: mine[key]}})


def _same_resource(a: str, b: str) -> bool:
    """One VISA resource however it is spelled (case, board number ``TCPIP0::``)."""
    def norm(r: str) -> str:
        return re.sub(r"^(tcpip|asrl|gpib|usb)\d*::", r"\1::", r.strip().lower())
    return norm(a) == norm(b)


async def instrument_at(station: Station, driver: str, resource: str, what: str) -> str:
    """The name the station knows the instrument at ``resource`` by; refused (naming the
    station's instruments of that kind) when the station does not control it."""
    found = [i for i in await station.instruments() if i.driver == driver]
    for inst in found:
        if inst.resource is not None and _same_resource(inst.resource, resource):
            return inst.name
    known = ", ".join(f"{i.name} at {i.resource}" for i in found) or "none"
    raise Refused(409, f"the station at {station.url} does not control {resource} (its "
                  f"{what}s: {known}); a station owns its instruments: name one of them, or "
                  f"stop that station to drive this {what} alone")


class _Aborter:
    """Turns SIGINT/SIGTERM into an abort of the run (once it is known), then waits."""

    def __init__(self, station: Station, what: str) -> None:
        self.station = station
        self.what = what
        self.run_id: str | None = None
        self.signal: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def interrupted(self, signame: str) -> None:
        if self.signal is None:
            self.signal = signame
            err_console.print(f"\n[yellow]{signame}: aborting, making {self.what} safe…[/]")
            self._send()
        else:
            err_console.print(f"[yellow]{signame}: still making {self.what} safe…[/]")

    def started(self, run_id: str) -> None:
        self.run_id = run_id
        self._send()

    def _send(self) -> None:
        if self.run_id is None or self.signal is None:
            return
        task = asyncio.get_running_loop().create_task(self._abort(self.run_id, self.signal))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _abort(self, run_id: str, signame: str) -> None:
        try:
            await self.station.abort(run_id, reason=signame)
        except StationError as exc:  # it ended meanwhile: the wait below reads how
            err_console.print(f"[yellow]abort: {exc}[/]", soft_wrap=True)


async def follow_run(station: Station, start: Callable[[], Awaitable[RunStarted]],
                     view: RunView, *, what: str, in_process: bool,
                     header: str | None = None) -> Followed:
    """Start a run (``start``, usually ``station.start_run(kind, params)``) and follow it
    to its end, aborting it on SIGINT/SIGTERM.

    ``header`` (a line on stderr) and ``view`` are shown once the station accepted the
    run: a refusal is its one line only."""
    loop = asyncio.get_running_loop()
    aborter = _Aborter(station, what)
    started_mono = time.monotonic()
    last_reading_ts: float | None = None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, aborter.interrupted, sig.name)
    try:
        async with station.stream() as live:
            started = await start()
            aborter.started(started.run_id)
            if header is not None:
                err_console.print(header, soft_wrap=True)
            with view:
                async for message in live.of_run(started.run_id):
                    if isinstance(message, StreamReading):
                        last_reading_ts = message.ts
                    view.update(message)
            time_scale = live.hello.time_scale if live.hello is not None else 1.0
            dropped = live.dropped
        # The stream ends with the event that closes the record, or earlier if the
        # station closed it: either way the stored run says how it ended.
        record = await station.wait_ended(started.run_id)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return Followed(record, time.monotonic() - started_mono, time_scale, last_reading_ts,
                    dropped, in_process, aborter.signal)


async def stored_up_to(station: Station, run_id: str, ts: float | None,
                       timeout_s: float = 30.0) -> RunDetail:
    """The run once its readings are stored up to simulated time ``ts`` (the last one
    seen live; the batched writer stores them shortly after the run's record closes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        detail = await station.run(run_id)
        stored = detail.last_reading_ts
        if ts is None or (stored is not None and stored >= ts):
            return detail
        if time.monotonic() > deadline:
            err_console.print(f"[yellow]warning:[/] readings of {run_id} stored only up to "
                              f"{stored}; writing those", soft_wrap=True)
            return detail
        await asyncio.sleep(0.05)
