"""The read paths issue 16 made cheap must stay correct: a cached token lookup forgets
a revoked token or a disabled user at once, a token's own expiry is kept, and a read
shared by concurrent requests runs once and is read again when it is stale."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from daq.api import accounts
from daq.api.principals import PrincipalCache
from daq.api.shared_read import SharedRead
from daq.storage.auth_models import ApiToken


async def _token_row(session: Any, token: str) -> ApiToken:
    row = (await session.scalars(select(ApiToken).where(
        ApiToken.token_hash == accounts.token_digest(token)))).one()
    assert isinstance(row, ApiToken)
    return row


async def _user_with_token(sessions: Any, name: str, role: str = "viewer") -> str:
    async with sessions() as session:
        await accounts.add_user(session, name, role, "a-long-enough-password")
        token, _ = await accounts.issue_token(session, name)
    return token


async def test_a_cached_token_is_looked_up_once_within_its_time(sessions: Any) -> None:
    token = await _user_with_token(sessions, "vic")
    cache = PrincipalCache(ttl_s=60.0)
    first = await cache.resolve(sessions, token)
    for _ in range(5):
        assert await cache.resolve(sessions, token) == first
    assert first == accounts.Principal("vic", "viewer")
    assert (cache.lookups, cache.hits) == (1, 5)


async def test_revoking_or_disabling_takes_effect_at_once(sessions: Any) -> None:
    token = await _user_with_token(sessions, "rev")
    other = await _user_with_token(sessions, "dis", "operator")
    cache = PrincipalCache(ttl_s=3600.0)
    assert await cache.resolve(sessions, token) is not None
    assert await cache.resolve(sessions, other) is not None
    async with sessions() as session:
        assert await accounts.revoke_token(session, token)
    assert await cache.resolve(sessions, token) is None
    async with sessions() as session:
        await accounts.change_user(session, "dis", disabled=True)
    assert await cache.resolve(sessions, other) is None


async def test_a_role_change_is_seen_at_once(sessions: Any) -> None:
    token = await _user_with_token(sessions, "pro")
    cache = PrincipalCache(ttl_s=3600.0)
    assert await cache.resolve(sessions, token) == accounts.Principal("pro", "viewer")
    async with sessions() as session:
        await accounts.set_role(session, "pro", "operator")
    assert await cache.resolve(sessions, token) == accounts.Principal("pro", "operator")


async def test_a_change_by_another_process_is_seen_after_the_ttl(sessions: Any) -> None:
    """Another process (``daq users`` beside the station) writes the database directly:
    nothing tells this cache, so it asks again once its entry is older than the TTL."""
    token = await _user_with_token(sessions, "far")
    cache = PrincipalCache(ttl_s=0.05)
    assert await cache.resolve(sessions, token) is not None
    async with sessions() as session:  # as another process would: no accounts call
        row = await _token_row(session, token)
        row.revoked_ts = time.time()
        await session.commit()
    entry_made = time.monotonic()
    while await cache.resolve(sessions, token) is not None:
        assert time.monotonic() - entry_made < 30, "the stale entry never expired"
        await asyncio.sleep(0.01)


async def test_an_entry_never_outlives_its_token(sessions: Any) -> None:
    async with sessions() as session:
        await accounts.add_user(session, "brief", "viewer", "a-long-enough-password")
        token, _ = await accounts.issue_token(session, "brief", lifetime_s=60.0)
        row = await _token_row(session, token)
        row.expires_ts = time.time() + 0.05  # about to expire
        await session.commit()
    cache = PrincipalCache(ttl_s=3600.0)
    assert await cache.resolve(sessions, token) is not None
    cached = time.monotonic()
    while await cache.resolve(sessions, token) is not None:
        assert time.monotonic() - cached < 30, "the entry outlived its token"
        await asyncio.sleep(0.01)
    assert cache.lookups >= 2


async def test_unknown_tokens_are_not_cached(sessions: Any) -> None:
    cache = PrincipalCache(ttl_s=3600.0)
    for _ in range(3):
        assert await cache.resolve(sessions, "no-such-token") is None
    assert cache.lookups == 3


async def test_concurrent_requests_share_one_read() -> None:
    release = asyncio.Event()
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    shared = SharedRead(read, max_age_s=3600.0)
    waiting = [asyncio.create_task(shared.get()) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [1] * 20
    assert await shared.get() == 1  # fresh: reused
    shared.forget()
    assert await shared.get() == 2


async def test_a_stale_result_is_read_again() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        return calls

    shared = SharedRead(read, max_age_s=0.02)
    assert await shared.get() == 1
    started = time.monotonic()
    while await shared.get() == 1:
        assert time.monotonic() - started < 30
        await asyncio.sleep(0.005)
    assert calls == 2


async def test_a_client_going_away_does_not_cancel_the_shared_read() -> None:
    release = asyncio.Event()

    async def read() -> str:
        await release.wait()
        return "done"

    shared = SharedRead(read, max_age_s=3600.0)
    leaving = asyncio.create_task(shared.get())
    staying = asyncio.create_task(shared.get())
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert await staying == "done"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failed_read_fails_its_waiters_and_is_retried() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return calls

    shared = SharedRead(read, max_age_s=3600.0)
    with pytest.raises(ConnectionError):
        await shared.get()
    assert await shared.get() == 2
