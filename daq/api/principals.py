"""A short-lived cache of bearer token → principal, so that reads do not each pay a
database lookup of their token (issue 16: the lookup was a fifth of the CPU of a
``GET /api/instruments``).

An entry lives :data:`TTL_S` seconds at most, and never past its token's expiry. Any
change of accounts made in this process (a role, a disablement, a revoked token)
bumps :func:`daq.api.accounts.accounts_generation` and empties the cache at the next
lookup, so it takes effect at once; a change written to the database by another process
(``daq users`` run beside the station) takes effect within :data:`TTL_S`. Unknown,
expired and revoked tokens are never cached: they are looked up each time.

Requests that miss at the same moment share one lookup: twenty dashboards polling with
one token all missed when its entry expired, and their twenty queries queued on the
database were the 60 ms p99 of ``GET /api/instruments`` (issue 16).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api.accounts import Principal, accounts_generation, resolve_token_until, token_digest

#: The longest a cached principal is trusted without asking the database again.
TTL_S = 2.0
#: Entries kept at most; beyond it the cache is emptied (a flood of distinct valid
#: tokens is not a case to optimise).
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float


class PrincipalCache:
    """Token digest → principal, for at most ``ttl_s`` seconds (see the module)."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}
        #: (digest, accounts generation) → the lookup in flight: a request made after an
        #: account change never joins a lookup begun before it.
        self._in_flight: dict[tuple[str, int], asyncio.Task[Principal | None]] = {}
        self._generation = accounts_generation()
        self.hits = 0
        self.lookups = 0

    def cached(self, token: str) -> Principal | None:
        """The principal of ``token`` if the cache holds it still (no await: the path of
        nearly every request), else None."""
        generation = accounts_generation()
        if self._generation != generation:
            self._entries.clear()
            self._generation = generation
            return None
        entry = self._entries.get(token_digest(token))
        if entry is not None and time.time() < entry.until:
            self.hits += 1
            return entry.principal
        return None

    async def resolve(self, sessions: async_sessionmaker[AsyncSession],
                      token: str) -> Principal | None:
        """The principal of ``token``, from the cache or (then cached) the database."""
        principal = self.cached(token)
        if principal is not None:
            return principal
        digest = token_digest(token)
        now = time.time()
        key = (digest, accounts_generation())
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._look_up(sessions, token, digest, now))
            self._in_flight[key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        # shielded: a client that goes away must not cancel the lookup others await
        return await asyncio.shield(task)

    async def _look_up(self, sessions: async_sessionmaker[AsyncSession], token: str,
                       digest: str, now: float) -> Principal | None:
        generation = accounts_generation()
        async with sessions() as session:
            found = await resolve_token_until(session, token)
        self.lookups += 1
        if found is None:
            self._entries.pop(digest, None)
            return None
        principal, expires_ts = found
        # An account change that happened while we were looking up: do not cache.
        if generation == accounts_generation():
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            until = now + self.ttl_s
            self._entries[digest] = _Entry(
                principal, until if expires_ts is None else min(until, expires_ts))
        return principal
