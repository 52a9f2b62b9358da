"""``Station``: the station's HTTP API as typed async calls.

Every error answer becomes a typed exception carrying the station's own words
(:class:`~daq.client.errors.Refused` for 409/422, :class:`NotAuthorized` for 401/403,
:class:`NotFound` for 404); a URL where nothing listens is
:class:`~daq.client.errors.StationUnreachable`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, JsonValue, TypeAdapter

from daq.client.credentials import load_token, station_url
from daq.client.errors import NotAuthorized, NotFound, Refused, StationError, StationUnreachable
from daq.client.models import (
    AbortReply,
    AgingRunRecord,
    CampaignRecord,
    Health,
    InstrumentInfo,
    JsonObject,
    PeelCurve,
    PeelTestRecord,
    PulloutRecord,
    ReadingPage,
    ResetReply,
    RunDetail,
    RunList,
    RunStarted,
    StoredReading,
    Table1Record,
    Token,
    WhoAmI,
)
from daq.client.stream import LiveStream

if TYPE_CHECKING:
    import pandas as pd

#: The most points the station gives of a peel curve (its ``max_points`` limit): all of a
#: 50 mm peel at 100 Hz and more.
ALL_CURVE_POINTS = 200_000


async def station_answers(url: str, timeout_s: float = 5.0) -> bool:
    """True if something accepts connections at ``url``; False if the connection is
    refused (no station there). Any other failure (no route, a name that does not
    resolve, a timeout) is :class:`StationUnreachable`: not a reason to run one here."""
    parts = urlsplit(station_url(url))
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except ConnectionRefusedError:
        return False
    except (OSError, TimeoutError) as exc:
        raise StationUnreachable(url, str(exc) or type(exc).__name__) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _fields(response: httpx.Response) -> tuple[str, ...]:
    """The fields a 422 answer names (``field`` of each error, as the station shapes it)."""
    try:
        body = response.json()
    except ValueError:
        return ()
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return ()
    return tuple(str(d["field"]) for d in detail if isinstance(d, dict) and "field" in d)


def _message(response: httpx.Response) -> str:
    """The station's explanation of an error answer, in one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d)
                             for d in detail)
    return str(body)


class Station:
    """A station's API (an async context manager, not re-entrant)."""

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout_s: float = 30.0) -> None:
        self.url = station_url(url)
        self.token = token if token is not None else load_token(self.url)
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Station:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.AsyncClient(base_url=self.url, timeout=self._timeout_s,
                                       headers=headers)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- plumbing ------------------------------------------------------------------------
    async def _request(self, method: str, path: str, *,
                       json: JsonValue = None,
                       params: Mapping[str, str | int] | None = None) -> httpx.Response:
        if self._http is None:
            raise StationError("use the Station as `async with Station(...) as station:`")
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise StationUnreachable(self.url, str(exc) or "connection failed") from None
        except httpx.TransportError as exc:
            raise StationError(f"station at {self.url}: {type(exc).__name__}: {exc}") from None
        if response.is_success:
            return response
        message = _message(response)
        if response.status_code in (401, 403):
            raise NotAuthorized(response.status_code, message)
        if response.status_code == 404:
            raise NotFound(message)
        if response.status_code in (409, 422):
            raise Refused(response.status_code, message, _fields(response))
        raise StationError(f"station answered {response.status_code}: {message}")

    # -- calls ---------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> Token:
        """A token for ``username``; it is used by this client from now on."""
        response = await self._request("POST", "/api/auth/token",
                                       json={"username": username, "password": password})
        token = Token.model_validate_json(response.content)
        self.token = token.access_token
        if self._http is not None:
            self._http.headers["Authorization"] = f"Bearer {token.access_token}"
        return token

    async def health(self) -> Health:
        """The station's health (no token needed)."""
        return Health.model_validate_json((await self._request("GET", "/health")).content)

    async def whoami(self) -> WhoAmI:
        """Who the station thinks we are."""
        return WhoAmI.model_validate_json((await self._request("GET", "/api/auth/me")).content)

    async def start_run(self, kind: str, params: BaseModel | Mapping[str, JsonValue]) -> RunStarted:
        """Start a run of ``kind`` (``press_cycle``, ``peel_test``, …) with ``params``."""
        body = (params.model_dump(mode="json", exclude_unset=True)
                if isinstance(params, BaseModel) else dict(params))
        response = await self._request("POST", "/api/runs", json={"kind": kind, "params": body})
        return RunStarted.model_validate_json(response.content)

    async def abort(self, run_id: str, reason: str | None = None) -> AbortReply:
        """Abort a live run; answers once its instrument is safe (``ABORTED``) or, if
        that takes long, with ``ABORTING``."""
        response = await self._request("POST", f"/api/runs/{run_id}/abort",
                                       json={"reason": reason} if reason else None)
        return AbortReply.model_validate_json(response.content)

    async def run(self, run_id: str) -> RunDetail:
        """A run as stored, with its events."""
        response = await self._request("GET", f"/api/runs/{run_id}")
        return RunDetail.model_validate_json(response.content)

    async def runs(self, *, kind: str | None = None, status: str | None = None,
                   limit: int = 50) -> RunList:
        """Runs on record, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        if kind:
            params["kind"] = kind
        if status:
            params["status"] = status
        response = await self._request("GET", "/api/runs", params=params)
        return RunList.model_validate_json(response.content)

    async def wait_ended(self, run_id: str, poll_s: float = 0.2) -> RunDetail:
        """The run once its record is closed (no longer RUNNING)."""
        while True:
            detail = await self.run(run_id)
            if detail.ended:
                return detail
            await asyncio.sleep(poll_s)

    def readings(self, run_id: str, *, long: bool = False, page_size: int = 20_000
                 ) -> RunReadings:
        """A run's stored readings, oldest first: ``async for reading in …`` gives each
        (:class:`StoredReading`, one per channel); ``await …`` gives them as a DataFrame,
        wide (time index, a column per channel) or, with ``long``, shaped as the CSV
        export (see :mod:`daq.client.frames`; needs the ``notebook`` extra)."""
        return RunReadings(self, run_id, long, page_size)

    async def reading_pages(self, run_id: str, page_size: int = 20_000
                            ) -> AsyncIterator[StoredReading]:
        """Every stored reading of a run, oldest first, read a page at a time (the
        station's largest page is 20 000; a run unknown to the station:
        :class:`NotFound` at the first page)."""
        offset: int | None = 0
        while offset is not None:
            response = await self._request("GET", f"/api/runs/{run_id}/readings",
                                           params={"limit": page_size, "offset": offset})
            page = ReadingPage.model_validate_json(response.content)
            for item in page.items:
                yield item
            offset = page.next_offset

    async def reading_at(self, run_id: str, channel: str, index: int) -> StoredReading | None:
        """The ``index``-th stored reading (oldest first) of one channel of a run; None
        past the end."""
        response = await self._request("GET", f"/api/runs/{run_id}/readings", params={
            "channel": channel, "limit": 1, "offset": max(index, 0)})
        items = ReadingPage.model_validate_json(response.content).items
        return items[0] if items else None

    async def register(self, what: str, body: Mapping[str, JsonValue]) -> bool:
        """Register a sample, laminate or specimen (``what``: ``samples``, ``laminates``,
        ``specimens``); False if one with that id is already on record."""
        try:
            await self._request("POST", f"/api/{what}", json=dict(body))
        except Refused as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def aging_status(self, run_id: str | None = None) -> JsonObject:
        """An aging run's hours, pull-outs due and done, excursions (as stored); the
        newest run's without ``run_id``."""
        path = f"/api/aging-runs/{run_id}/status" if run_id else "/api/aging-runs/status"
        response = await self._request("GET", path)
        body = TypeAdapter(JsonObject).validate_json(response.content)
        return body

    async def pull_out(self, run_id: str, specimen_ids: list[str] | None) -> PulloutRecord:
        """Record specimens taken out of the oven (none named: those of the earliest
        pull-out due); :class:`Refused` when none is due or one is not in the oven."""
        body: JsonObject = {"specimen_ids": list(specimen_ids) if specimen_ids else None}
        response = await self._request("POST", f"/api/aging-runs/{run_id}/pullouts",
                                       json=body)
        return PulloutRecord.model_validate_json(response.content)

    async def campaign(self, campaign_id: str) -> CampaignRecord:
        """A campaign and its table (:class:`NotFound` if it was never run here)."""
        response = await self._request("GET", f"/api/campaigns/{campaign_id}")
        return CampaignRecord.model_validate_json(response.content)

    async def table1_record(self, campaign_id: str) -> Table1Record:
        """A campaign's Table 1 as its report reads it, live while it runs."""
        response = await self._request("GET", f"/api/campaigns/{campaign_id}/table1")
        return Table1Record.model_validate_json(response.content)

    async def table1(self, campaign_id: str) -> pd.DataFrame:
        """A campaign's Table 1 as a DataFrame shaped like the patent's (a row per
        sample; see :func:`daq.client.frames.table1_frame`)."""
        from daq.client import frames

        return frames.table1_frame(await self.table1_record(campaign_id))

    async def peel_test(self, test_id: str) -> PeelTestRecord:
        """A peel test with its results (the latest last)."""
        response = await self._request("GET", f"/api/peel-tests/{test_id}")
        return PeelTestRecord.model_validate_json(response.content)

    async def peel_tests(self, *, sample_id: str | None = None,
                         specimen_id: str | None = None, limit: int = 100
                         ) -> list[PeelTestRecord]:
        """Peel tests, newest first, each with its latest strength (no results list)."""
        params: dict[str, str | int] = {"limit": limit}
        if sample_id:
            params["sample_id"] = sample_id
        if specimen_id:
            params["specimen_id"] = specimen_id
        response = await self._request("GET", "/api/peel-tests", params=params)
        return [PeelTestRecord.model_validate(t) for t in response.json()]

    async def peel_curve_points(self, test_id: str, max_points: int = ALL_CURVE_POINTS
                                ) -> PeelCurve:
        """A peel test's captured curve, thinned evenly to at most ``max_points``."""
        response = await self._request("GET", f"/api/peel-tests/{test_id}/curve",
                                       params={"max_points": max_points})
        return PeelCurve.model_validate_json(response.content)

    async def peel_curve(self, test_id: str, max_points: int = ALL_CURVE_POINTS
                         ) -> pd.DataFrame:
        """A peel test's force curve (``travel_mm``, ``force_n``) with the test and its
        computed peel strength in ``attrs`` (see :func:`daq.client.frames.peel_curve_frame`)."""
        from daq.client import frames

        test, curve = await asyncio.gather(self.peel_test(test_id),
                                           self.peel_curve_points(test_id, max_points))
        return frames.peel_curve_frame(test, curve)

    async def aging_record(self, run_id: str) -> AgingRunRecord:
        """An aging run's record: hours in, out of tolerance and unmonitored, its
        excursions and pull-outs."""
        response = await self._request("GET", f"/api/aging-runs/{run_id}")
        return AgingRunRecord.model_validate_json(response.content)

    async def aging_run(self, run_id: str) -> AgingRun:
        """An aging run's record with its excursions and its oven log (the run's stored
        readings, ``pv`` and ``sp``) as DataFrames."""
        from daq.client import frames

        record = await self.aging_record(run_id)
        log = await self.readings(run_id)
        return AgingRun(record, frames.excursions_frame(record), log)

    async def instruments(self) -> list[InstrumentInfo]:
        """The station's instruments (and, read-only, other stations' sharing its database)."""
        response = await self._request("GET", "/api/instruments")
        return [InstrumentInfo.model_validate(i) for i in response.json()]

    async def reset_instrument(self, name: str) -> ResetReply:
        """Reset a press latched SAFE (:class:`Refused` while its door is open, a run
        holds it, or it is still tripped, in the station's words)."""
        response = await self._request("POST", f"/api/instruments/{name}/reset")
        return ResetReply.model_validate_json(response.content)

    def stream(self) -> LiveStream:
        """The live stream (``async with station.stream() as live:``)."""
        if not self.token:
            raise NotAuthorized(401, "no token: run `daq login` or set DAQ_TOKEN")
        return LiveStream(self.url, self.token)


class RunReadings:
    """A run's readings as :meth:`Station.readings` gives them: iterate (``async for``)
    for typed readings, or await for a DataFrame."""

    def __init__(self, station: Station, run_id: str, long: bool, page_size: int) -> None:
        self._station = station
        self.run_id = run_id
        self.long = long
        self._page_size = page_size

    def __aiter__(self) -> AsyncIterator[StoredReading]:
        return self._station.reading_pages(self.run_id, self._page_size)

    def __await__(self) -> Generator[Any, None, pd.DataFrame]:
        return self.frame().__await__()

    async def frame(self) -> pd.DataFrame:
        """The readings as a DataFrame (wide, or long as the CSV export)."""
        from daq.client import frames

        items = [r async for r in self]
        if self.long:
            return frames.readings_table(items, self.run_id)
        return frames.readings_frame(items, self.run_id)


@dataclass(frozen=True)
class AgingRun:
    """An aging run for a notebook: its typed record, its excursions and its oven log."""

    record: AgingRunRecord
    #: One row per excursion: start, end, hours, peak deviation (°C), peak oven °C.
    excursions: pd.DataFrame
    #: The run's stored readings, wide (``pv``, ``sp`` in °C); empty if none were stored.
    log: pd.DataFrame
