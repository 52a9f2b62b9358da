"""``WS /api/stream`` as an async iterator of typed messages.

The token goes in the first message (not the URL, which proxies log). The station's
``hello`` comes back first; a refused token closes the socket (code 4401) and raises
:class:`~daq.client.errors.NotAuthorized`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from types import TracebackType

from pydantic import TypeAdapter, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from daq.client.errors import NotAuthorized, StationError, StationUnreachable
from daq.client.models import (
    StreamAlarm,
    StreamEvent,
    StreamHello,
    StreamMessage,
    StreamReading,
)

_MESSAGE: TypeAdapter[StreamMessage] = TypeAdapter(StreamMessage)


def stream_url(base_url: str) -> str:
    """``http://host:port`` → ``ws://host:port/api/stream`` (https → wss)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/api/stream"
    return "ws://" + base_url.removeprefix("http://") + "/api/stream"


class LiveStream:
    """One connection to the station's live stream (an async context manager)."""

    def __init__(self, base_url: str, token: str, *, open_timeout_s: float = 10.0) -> None:
        self.url = stream_url(base_url)
        self._token = token
        self._open_timeout_s = open_timeout_s
        self._ws: ClientConnection | None = None
        #: The station's greeting (its clock and time scale), once connected.
        self.hello: StreamHello | None = None
        #: Messages the station dropped for us because we fell behind.
        self.dropped = 0

    async def __aenter__(self) -> LiveStream:
        try:
            self._ws = await connect(self.url, open_timeout=self._open_timeout_s,
                                     max_size=None)
        except ConnectionRefusedError as exc:
            raise StationUnreachable(self.url, str(exc)) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise StationError(f"cannot open the live stream at {self.url}: {exc}") from None
        try:
            await self._ws.send(json.dumps({"token": self._token}))
            first = self._parse(await self._ws.recv())
        except ConnectionClosed as exc:
            await self._close()
            reason = exc.rcvd.reason if exc.rcvd is not None else "closed"
            raise NotAuthorized(401, f"the live stream refused us: {reason}") from None
        if not isinstance(first, StreamHello):
            await self._close()
            raise StationError(f"the live stream did not greet us (got {first!r})")
        self.hello = first
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None

    @staticmethod
    def _parse(text: str | bytes) -> StreamMessage | None:
        try:
            return _MESSAGE.validate_json(text)
        except ValidationError:  # a kind of message this client does not know yet
            return None

    async def messages(self) -> AsyncIterator[StreamMessage]:
        """Every message until the station closes the stream."""
        if self._ws is None:
            raise StationError("the live stream is not open")
        with contextlib.suppress(ConnectionClosed):
            async for text in self._ws:
                message = self._parse(text)
                if message is None:
                    continue
                if message.type == "dropped":
                    self.dropped = message.dropped
                yield message

    async def of_run(self, run_id: str) -> AsyncIterator[StreamMessage]:
        """The readings, events and alarms of one run, ending after the event that closes
        its record (or when the stream closes)."""
        async for message in self.messages():
            if (isinstance(message, StreamReading | StreamEvent | StreamAlarm)
                    and message.run_id == run_id):
                yield message
                if isinstance(message, StreamEvent) and message.is_end:
                    return
