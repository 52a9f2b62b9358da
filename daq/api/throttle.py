"""Login throttling: wrong passwords cost the guesser time, not the station CPU.

Each user name and each client address has its own count of wrong logins in a row. The
first few (:data:`FREE_FAILURES`) are free; after that each further attempt must wait a delay
that doubles with every failure (1 s, 2 s, 4 s … up to :data:`MAX_DELAY_S`), checked
before any password is hashed, and answered 429 with ``Retry-After`` (held back a
second, so that a flood of refused attempts does not take the event loop from the
instruments). A right password clears both counts. Entries are forgotten
:data:`FORGET_AFTER_S` after their last failure and at most :data:`MAX_ENTRIES` are
kept, so the table cannot grow without bound.
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
#: A "wait" answer is held back this long (or the wait, if shorter): a client that does
#: not honour Retry-After sends one attempt a second, not as many as the loop can answer.
TARPIT_S = 1.0
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

    def __init__(self, now: Callable[[], float] = time.monotonic,
                 tarpit_s: float = TARPIT_S) -> None:
        self.now = now
        #: How long a "wait" answer is held back (real seconds, at most the wait itself).
        self.tarpit_s = tarpit_s
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        #: Attempts answered "wait" (for ``/metrics``).
        self.refused = 0

    def admit(self, keys: Iterable[str]) -> float:
        """Admit one login attempt under ``keys``, or say how many seconds it must wait.

        An admitted attempt counts as a wrong login until :meth:`succeeded` says
        otherwise: concurrent attempts are counted as they arrive, so twenty clients at
        once get no more free guesses than one client in turn."""
        keys = list(keys)
        now = self.now()
        wait = 0.0
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and now - entry.last >= FORGET_AFTER_S:
                del self._entries[key]
            elif entry is not None:
                wait = max(wait, entry.locked_until - now)
        if wait > 0:
            self.refused += 1
            return wait
        for key in keys:
            entry = self._entries.pop(key, None) or _Failures(0, now, now)
            entry.count += 1
            entry.last = now
            free = FREE_FAILURES.get(key.split(":", 1)[0], min(FREE_FAILURES.values()))
            entry.locked_until = now + delay_after(entry.count, free)
            self._entries[key] = entry
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
        return 0.0

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
