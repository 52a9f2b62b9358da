"""Login throttling: wrong passwords cost the guesser time, not the station CPU.

Each user name and each client address has its own count of wrong logins in a row. The
first few (:data:`FREE_FAILURES`) are free; after that each further attempt must wait a delay
that doubles with every failure (1 s, 2 s, 4 s … up to :data:`MAX_DELAY_S`), checked
before any password is hashed, and answered 429 with ``Retry-After``. A right password
clears both counts. Entries are forgotten :data:`FORGET_AFTER_S` after their last
failure and at most :data:`MAX_ENTRIES` are kept, so the table cannot grow without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Wrong logins in a row that cost nothing (typos), per user name and per client address:
#: an address may be a proxy or a lab PC many people share, so it gets more before a wait.
FREE_FAILURES = {"user": 5, "client": 20}
#: The first delay after the free failures, doubling with each further one.
BASE_DELAY_S = 1.0
#: The longest delay.
MAX_DELAY_S = 300.0
#: A key with no failure for this long starts afresh.
FORGET_AFTER_S = 900.0
#: Most keys remembered (the oldest go first).
MAX_ENTRIES = 10_000


@dataclass
class _Failures:
    count: int
    last: float
    locked_until: float


def delay_after(failures: int, free: int) -> float:
    """Seconds to wait after ``failures`` wrong logins in a row of which ``free`` cost
    nothing (0 while they are free)."""
    if failures < free:
        return 0.0
    return min(BASE_DELAY_S * 2.0 ** min(failures - free, 32), MAX_DELAY_S)


class LoginThrottle:
    """Counts wrong logins per key (``user:NAME``, ``client:ADDR``) and says how long the
    next attempt must wait."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until an attempt under all of ``keys`` is allowed (0: allowed now)."""
        now = self.now()
        wait = 0.0
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            if now - entry.last >= FORGET_AFTER_S:
                del self._entries[key]
                continue
            wait = max(wait, entry.locked_until - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        """Note a wrong login under each of ``keys``."""
        now = self.now()
        for key in keys:
            entry = self._entries.pop(key, None)
            if entry is None or now - entry.last >= FORGET_AFTER_S:
                entry = _Failures(0, now, now)
            entry.count += 1
            entry.last = now
            free = FREE_FAILURES.get(key.split(":", 1)[0], min(FREE_FAILURES.values()))
            entry.locked_until = now + delay_after(entry.count, free)
            self._entries[key] = entry
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """A right login: the counts of ``keys`` start again."""
        for key in keys:
            self._entries.pop(key, None)


def login_keys(username: str, client: str | None) -> list[str]:
    """The throttle keys of one login attempt."""
    return [f"user:{username}", f"client:{client or 'unknown'}"]


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, never 0 for a wait that is not over."""
    return str(max(1, math.ceil(seconds)))
