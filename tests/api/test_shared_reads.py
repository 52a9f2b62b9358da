"""The read paths issue 16 made cheap must stay correct: a cached token lookup forgets
a revoked token or a disabled user at once, a token's own expiry is kept, and a read
shared by concurrent requests runs once, is read again when it is stale, and never
answers a request made after a command."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from starlette.types import Message, Receive, Scope, Send

from daq.api import accounts
from daq.api.principals import PrincipalCache
from daq.api.shared_read import SharedRead
from daq.api.snapshots import SNAPSHOT_MAX_AGE_S, FreshAfterCommands, json_bytes, snapshot
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


async def test_requests_missing_together_share_one_lookup(sessions: Any) -> None:
    token = await _user_with_token(sessions, "herd")
    cache = PrincipalCache(ttl_s=3600.0)
    found = await asyncio.gather(*(cache.resolve(sessions, token) for _ in range(20)))
    assert found == [accounts.Principal("herd", "viewer")] * 20
    assert cache.lookups == 1


async def test_a_lookup_begun_before_a_revocation_is_not_shared_after_it(
        sessions: Any) -> None:
    token = await _user_with_token(sessions, "late")
    cache = PrincipalCache(ttl_s=3600.0)
    queried, release = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def held_session() -> AsyncIterator[Any]:
        """A session whose lookup has read the token but is not yet answered."""
        async with sessions() as session:
            yield session
        queried.set()
        await release.wait()

    before = asyncio.create_task(cache.resolve(held_session, token))
    await queried.wait()  # it found the token valid, and is still in flight
    async with sessions() as session:
        assert await accounts.revoke_token(session, token)
    try:  # joining the lookup in flight would wait for it, and answer "valid"
        assert await asyncio.wait_for(cache.resolve(sessions, token), 30) is None
    finally:
        release.set()
    assert await before == accounts.Principal("late", "viewer")  # asked before


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


async def test_a_read_begun_before_forget_answers_nobody_after_it() -> None:
    """A command changed what is read while a read was in flight: that read (which may
    have seen the state before the command) is neither joined nor kept afterwards."""
    release = asyncio.Event()
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        mine = calls
        if mine == 1:
            await release.wait()
        return mine

    shared = SharedRead(read, max_age_s=3600.0)
    before = asyncio.create_task(shared.get())
    await asyncio.sleep(0)  # read 1 is in flight
    shared.forget()
    assert await shared.get() == 2  # not joined
    release.set()
    assert await before == 1
    assert await shared.get() == 2  # and read 1, finishing later, was not kept


async def test_a_command_forgets_the_snapshots_and_a_read_does_not() -> None:
    calls = 0

    async def render() -> bytes:
        nonlocal calls
        calls += 1
        return json_bytes({"n": calls})

    shared = snapshot(render)

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("a command that failed half way")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = FreshAfterCommands(endpoint, [shared])

    async def call(method: str, path: str = "/x") -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_: Message) -> None:
            return None

        await app({"type": "http", "method": method, "path": path}, receive, send)

    assert await shared.get() == b'{"n":1}'
    await call("GET")
    assert await shared.get() == b'{"n":1}'  # a read changes nothing
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        await call(method)
    assert await shared.get() == b'{"n":2}'
    with pytest.raises(RuntimeError):
        await call("POST", "/boom")
    assert await shared.get() == b'{"n":3}'
    assert SNAPSHOT_MAX_AGE_S <= 0.1  # never older than a poll interval (100-200 ms)
