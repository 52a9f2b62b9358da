"""In-process publish/subscribe bus with bounded queues.

Publishing never blocks: acquisition must not wait for a slow consumer. A subscriber
whose queue is full loses the *oldest* message, and the loss is counted on the
subscription (and reported in ``/metrics``), never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from daq.messages import Message

log = logging.getLogger(__name__)

M = TypeVar("M")


class Subscription(Generic[M]):
    """A bounded queue of messages of the types a consumer asked for."""

    def __init__(self, name: str, types: tuple[type, ...], maxsize: int) -> None:
        self.name = name
        self.types = types
        self.maxsize = maxsize
        self.queue: asyncio.Queue[M] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def offer(self, message: M) -> None:
        """Enqueue without blocking; on overflow drop the oldest message and count it."""
        if self.closed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(message)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("bus subscriber %s full: %d messages dropped", self.name, self.dropped)

    async def get(self) -> M:
        """Wait for the next message."""
        message = await self.queue.get()
        self.delivered += 1
        return message

    def get_batch(self, limit: int) -> list[M]:
        """Everything already queued, up to ``limit`` messages, without waiting."""
        batch: list[M] = []
        while len(batch) < limit:
            try:
                batch.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        self.delivered += len(batch)
        return batch

    def depth(self) -> int:
        """Messages waiting in the queue."""
        return self.queue.qsize()

    def __aiter__(self) -> AsyncIterator[M]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[M]:
        while True:
            yield await self.get()


class Bus:
    """Fan-out of messages from producers (acquisition, procedures) to consumers."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription[Message]] = []
        self.published = 0

    def subscribe(
        self, name: str, types: tuple[type, ...] = (object,), maxsize: int = 10_000
    ) -> Subscription[Message]:
        """A new subscription receiving every later message that is one of ``types``."""
        sub: Subscription[Message] = Subscription(name, types, maxsize)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[Message]) -> None:
        """Stop delivering to ``sub``."""
        sub.closed = True
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, message: Message) -> None:
        """Deliver ``message`` to every interested subscriber; never blocks."""
        self.published += 1
        for sub in self._subscriptions:
            if isinstance(message, sub.types):
                sub.offer(message)

    @property
    def subscriptions(self) -> list[Subscription[Message]]:
        """The live subscriptions (for metrics)."""
        return list(self._subscriptions)
