"""A read that concurrent requests share, and reuse while it is fresh.

For what many clients poll and the station changes rarely (the health check's database
probe, the stored instrument records): one read in flight at a time, awaited by every
request that arrives meanwhile, and its result reused for ``max_age_s``. Issue 16 found
a database round trip per request to be most of the cost of such reads under twenty
clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    """``await shared.get()``: the latest result of ``read`` if younger than
    ``max_age_s``, else the read in flight, else a new one."""

    def __init__(self, read: Callable[[], Awaitable[T]], max_age_s: float) -> None:
        self.read = read
        self.max_age_s = max_age_s
        self.reads = 0
        self._result: tuple[float, T] | None = None
        self._in_flight: asyncio.Task[T] | None = None
        self._generation = 0

    async def get(self) -> T:
        """The shared result (a failed read raises in every request that awaited it)."""
        if self._result is not None and time.monotonic() - self._result[0] < self.max_age_s:
            return self._result[1]
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.get_running_loop().create_task(
                self._read(self._generation))
        # shielded: a client that goes away must not cancel the read the others await
        return await asyncio.shield(self._in_flight)

    def forget(self) -> None:
        """Read again next time (the station just changed what is read): neither the
        kept result nor a read begun before now answers a request made after it."""
        self._result = None
        self._in_flight = None
        self._generation += 1

    async def _read(self, generation: int) -> T:
        self.reads += 1
        started = time.monotonic()
        value = await self.read()
        if generation == self._generation:
            self._result = (started, value)
        return value
