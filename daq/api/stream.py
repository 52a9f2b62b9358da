"""Fan-out of live bus messages (readings, run events, alarms, statuses, alarm and queue
changes) to WebSocket clients.

One bus subscription feeds every client: each message is encoded to JSON once and put
into each client's bounded queue. A slow client loses its *oldest* messages (counted
and reported to it in the next message as ``dropped``), never slowing acquisition or
the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import asdict
from typing import Any

from daq.bus import Bus, Subscription
from daq.clock import iso
from daq.messages import (
    Alarm,
    AlarmChanged,
    InstrumentStatus,
    Message,
    QueueChanged,
    Reading,
    RunEvent,
)

log = logging.getLogger(__name__)

STREAM_TYPES = (Reading, RunEvent, Alarm, InstrumentStatus, AlarmChanged, QueueChanged)


def encode(message: Message) -> str:
    """The JSON text a client receives for one bus message."""
    kind: str
    body: dict[str, Any]
    if isinstance(message, Reading):
        kind = "reading"
        body = {
            "instrument": message.instrument,
            "ts": message.ts,
            "run_id": message.run_id,
            "values": {ch: {"v": val.v, "unit": val.unit} for ch, val in message.values.items()},
            "replayed": message.replayed,
        }
    elif isinstance(message, RunEvent):
        kind, body = "event", asdict(message)
    elif isinstance(message, Alarm):
        kind, body = "alarm", asdict(message)
    elif isinstance(message, AlarmChanged):
        kind, body = "alarm_changed", asdict(message)
    elif isinstance(message, QueueChanged):
        kind, body = "queue", asdict(message)
    else:
        kind, body = "status", asdict(message)
    body["type"] = kind
    body["time"] = iso(float(body["ts"]))
    return json.dumps(body, default=str, separators=(",", ":"))


class StreamClient:
    """One connected client's bounded queue of encoded messages."""

    def __init__(self, maxsize: int) -> None:
        self.queue: deque[str] = deque(maxlen=maxsize)
        self.ready = asyncio.Event()
        self.dropped = 0
        self.sent = 0

    def offer(self, text: str) -> None:
        """Queue ``text``; a full queue forgets its oldest message."""
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(text)
        self.ready.set()

    async def next_batch(self) -> list[str]:
        """Everything queued, waiting until there is something."""
        while not self.queue:
            self.ready.clear()
            await self.ready.wait()
        batch = list(self.queue)
        self.queue.clear()
        return batch


class StreamHub:
    """Reads the bus once and hands each message to every connected client."""

    def __init__(self, bus: Bus, client_queue: int = 2000) -> None:
        self.bus = bus
        self.client_queue = client_queue
        self.clients: set[StreamClient] = set()
        self._sub: Subscription[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self.messages = 0

    def connect(self) -> StreamClient:
        """A new client; starts reading the bus with the first one."""
        client = StreamClient(self.client_queue)
        self.clients.add(client)
        if self._task is None or self._task.done():
            self._sub = self.bus.subscribe("api-stream", STREAM_TYPES, maxsize=50_000)
            self._task = asyncio.get_running_loop().create_task(self._pump(), name="api-stream")
        return client

    def disconnect(self, client: StreamClient) -> None:
        """Forget a client."""
        self.clients.discard(client)

    async def _pump(self) -> None:
        assert self._sub is not None
        sub = self._sub
        while True:
            first = await sub.get()
            for message in [first, *sub.get_batch(1000)]:
                try:
                    text = encode(message)
                except (TypeError, ValueError):
                    log.exception("cannot encode %r for the stream", message)
                    continue
                self.messages += 1
                for client in self.clients:
                    client.offer(text)

    async def close(self) -> None:
        """Stop reading the bus."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
            self._sub = None

    @property
    def dropped(self) -> int:
        """Messages lost by slow clients (currently connected ones) plus the bus side."""
        return sum(c.dropped for c in self.clients) + (self._sub.dropped if self._sub else 0)
