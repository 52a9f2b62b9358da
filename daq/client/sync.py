"""``SyncStation``: the station's client without ``await``, for notebooks and scripts.

It is the async :class:`~daq.client.station.Station` run on a private event loop in a
thread of its own (as ``httpx.Client`` stands beside ``httpx.AsyncClient``): each call
hands its coroutine to that loop and waits for the answer. That works where an event loop
already runs in the caller's thread, as in Jupyter, where ``asyncio.run`` would refuse.
The same errors come back (:class:`~daq.client.errors.NotFound`, …)::

    with SyncStation("http://127.0.0.1:8000", token) as station:
        df = station.readings("press-3f9a1c0b7e21")

Without ``with`` it connects on the first call; :meth:`SyncStation.close` stops its thread
(so does dropping the client, or the end of the process).
``from daq.client.sync import Station`` names the same class.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from daq.client.errors import StationError
from daq.client.models import (
    AgingRunRecord,
    CampaignRecord,
    Health,
    InstrumentInfo,
    JsonObject,
    PeelTestRecord,
    RunDetail,
    RunList,
    StoredReading,
    Table1Record,
)
from daq.client.station import ALL_CURVE_POINTS, AgingRun
from daq.client.station import Station as AsyncStation

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


def _shut_down(loop: asyncio.AbstractEventLoop, thread: threading.Thread,
               station: AsyncStation) -> None:
    """Close the client's connections, then stop its loop and thread."""
    try:
        asyncio.run_coroutine_threadsafe(station.__aexit__(None, None, None), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        if not thread.is_alive():
            loop.close()


class SyncStation:
    """A station's API as blocking calls (a context manager; usable without one too)."""

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout_s: float = 30.0) -> None:
        self._station = AsyncStation(url, token, timeout_s=timeout_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[
            [asyncio.AbstractEventLoop, threading.Thread, AsyncStation], SyncStation] | None = None

    @property
    def url(self) -> str:
        """The station's base URL."""
        return self._station.url

    # -- the private loop ----------------------------------------------------------------
    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="daq-client",
                                      daemon=True)
            thread.start()
            asyncio.run_coroutine_threadsafe(self._station.__aenter__(), loop).result()
            self._loop, self._thread = loop, thread
            # A client dropped without close() (a notebook cell run again) still closes its
            # connections and stops its thread, when collected or at the latest at exit.
            self._finalizer = weakref.finalize(self, _shut_down, loop, thread, self._station)
            return loop

    def _call(self, coro: Coroutine[object, object, T]) -> T:
        try:
            loop = self._started()
        except BaseException:
            coro.close()
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            raise StationError("a SyncStation cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self) -> None:
        """Close the connection and stop the client's thread (idempotent)."""
        with self._lock:
            finalizer, self._finalizer = self._finalizer, None
            self._loop = self._thread = None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> SyncStation:
        self._started()
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- calls (each as the async Station's, see there) ----------------------------------
    def health(self) -> Health:
        """The station's health (no token needed)."""
        return self._call(self._station.health())

    def runs(self, *, kind: str | None = None, status: str | None = None,
             limit: int = 50) -> RunList:
        """Runs on record, newest first."""
        return self._call(self._station.runs(kind=kind, status=status, limit=limit))

    def run(self, run_id: str) -> RunDetail:
        """A run as stored, with its events and reading counts per channel."""
        return self._call(self._station.run(run_id))

    def readings(self, run_id: str, *, long: bool = False) -> pd.DataFrame:
        """A run's readings as a DataFrame: wide (a UTC ``time`` index, a column per
        channel, units in ``attrs["units"]``) or, with ``long``, the CSV export's rows."""
        return self._call(self._station.readings(run_id, long=long).frame())

    def reading_records(self, run_id: str) -> list[StoredReading]:
        """A run's readings as typed records, oldest first (no pandas needed)."""
        async def collect() -> list[StoredReading]:
            return [r async for r in self._station.reading_pages(run_id)]

        return self._call(collect())

    def peel_test(self, test_id: str) -> PeelTestRecord:
        """A peel test with its results."""
        return self._call(self._station.peel_test(test_id))

    def peel_tests(self, *, sample_id: str | None = None, specimen_id: str | None = None,
                   limit: int = 100) -> list[PeelTestRecord]:
        """Peel tests, newest first, with their latest strength."""
        return self._call(self._station.peel_tests(sample_id=sample_id,
                                                   specimen_id=specimen_id, limit=limit))

    def peel_curve(self, test_id: str, max_points: int = ALL_CURVE_POINTS) -> pd.DataFrame:
        """A peel test's force curve with its computed strength in ``attrs``."""
        return self._call(self._station.peel_curve(test_id, max_points))

    def aging_record(self, run_id: str) -> AgingRunRecord:
        """An aging run's hours, excursions and pull-outs."""
        return self._call(self._station.aging_record(run_id))

    def aging_run(self, run_id: str) -> AgingRun:
        """An aging run's record, excursions and oven log (DataFrames)."""
        return self._call(self._station.aging_run(run_id))

    def aging_status(self, run_id: str | None = None) -> JsonObject:
        """An aging run's status as ``daq aging status`` shows it."""
        return self._call(self._station.aging_status(run_id))

    def campaign(self, campaign_id: str) -> CampaignRecord:
        """A campaign and its reproduced table."""
        return self._call(self._station.campaign(campaign_id))

    def table1_record(self, campaign_id: str) -> Table1Record:
        """A campaign's Table 1 as typed records."""
        return self._call(self._station.table1_record(campaign_id))

    def table1(self, campaign_id: str) -> pd.DataFrame:
        """A campaign's Table 1 as a DataFrame shaped like the patent's."""
        return self._call(self._station.table1(campaign_id))

    def instruments(self) -> list[InstrumentInfo]:
        """The station's instruments."""
        return self._call(self._station.instruments())


#: ``from daq.client.sync import Station``: the blocking client under the async one's name.
Station = SyncStation
