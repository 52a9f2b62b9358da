"""The probes of the safety issue (#15, 2–7) against a real station on each backend: each
now gets a 4xx with a message, and the audit log stays readable after every one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from daq.api import accounts, create_app
from daq.api.throttle import LoginThrottle
from daq.station.lab import Lab
from tests.api.conftest import Station, add_users, running_station, station_settings


class FakeClock:
    """The throttle's clock, moved by the test (what is tested is the rule, not a wait)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def default_hasher() -> Iterator[None]:
    """argon2's default cost, as a station has it (the suite hashes cheaply): what is
    measured is that hashes that take a real fraction of a second stay off the loop."""
    from argon2 import PasswordHasher

    from tests.conftest import TEST_HASHER

    accounts.use_password_hasher(PasswordHasher())
    accounts.dummy_password_hash.cache_clear()  # unknown names verify against a default hash
    yield
    accounts.use_password_hasher(TEST_HASHER)
    accounts.dummy_password_hash.cache_clear()


@pytest_asyncio.fixture
async def backed(db_url: str, tmp_path: Path) -> AsyncIterator[Station]:
    settings = station_settings(tmp_path).model_copy(update={"database_url": db_url})
    async with running_station(settings) as running:
        yield running


async def audit_readable(station: Station) -> list[dict[str, object]]:
    async with station.client("admin") as admin:
        for query in ("", "?user=admin1", "?user=operator1"):
            got = await admin.get(f"/api/audit{query}")
            assert got.status_code == 200, got.text
        rows: list[dict[str, object]] = (await admin.get("/api/audit")).json()
    return rows


def raw_json(text: str) -> bytes:
    """A JSON body written by hand, so it can carry what ``json.dumps`` would escape."""
    return text.encode()


async def test_a_lone_surrogate_or_control_character_is_422_and_the_audit_stays_readable(
    backed: Station,
) -> None:
    async with backed.client("operator") as op:
        for body in ('{"recipe_name": "\\ud800"}', '{"recipe_name": "a\\u0007b"}',
                     '{"recipe": {"temperature_c": 200, "notes\\udfff": 1}}'):
            got = await op.post("/api/press/cycles", content=raw_json(body),
                                headers={"Content-Type": "application/json"})
            assert got.status_code == 422, (body, got.text)
            message = got.json()["message"]
            assert "surrogate" in message or "control character" in message, message
        # Newlines and tabs are text (a multi-line note), and reach the route's own rules.
        fine = await op.post("/api/samples", json={
            "lot": "L-1", "material": "EX1", "adhesive_thickness_um": 5.0,
            "note": "line one\nline\ttwo"})
        assert fine.status_code != 422 or "control character" not in fine.text
    rows = await audit_readable(backed)
    refused = [r for r in rows if r["result"] == "refused 422"]
    assert len(refused) >= 3
    assert any("surrogate" in json.dumps(r["detail"]) for r in refused)


async def test_an_oversized_or_deep_body_is_refused_and_audited(backed: Station) -> None:
    async with backed.client("operator") as op:
        deep = "[" * 10_000 + "]" * 10_000
        got = await op.post("/api/press/cycles", content=deep.encode(),
                            headers={"Content-Type": "application/json"})
        assert got.status_code == 400, got.text
        assert "nested deeper than 32" in got.json()["message"]
        # 33 levels is one too many, 32 passes the guard (and is the route's to judge).
        edge = await op.post("/api/press/cycles",
                             content=("[" * 33 + "]" * 33).encode(),
                             headers={"Content-Type": "application/json"})
        assert edge.status_code == 400
        ok_depth = await op.post("/api/press/cycles",
                                 content=("[" * 32 + "]" * 32).encode(),
                                 headers={"Content-Type": "application/json"})
        assert ok_depth.status_code == 422, ok_depth.text
        big = b'{"recipe_name": "' + b"x" * (1 << 20) + b'"}'
        got = await op.post("/api/press/cycles", content=big,
                            headers={"Content-Type": "application/json"})
        assert got.status_code == 413, got.text
    assert backed.app.state.audit_counters.failures == 0
    rows = await audit_readable(backed)
    assert {"refused 400", "refused 413"} <= {str(r["result"]) for r in rows}


async def test_paging_is_bounded_on_every_list(backed: Station) -> None:
    huge = 9_223_372_036_854_775_808
    async with backed.client("viewer") as viewer:
        for path in ("/api/laser/jobs", "/api/peel-tests", "/api/aging-runs", "/api/runs",
                     "/api/specimens"):
            got = await viewer.get(f"{path}?offset={huge}")
            assert got.status_code == 422, (path, got.status_code, got.text)


async def test_options_and_405_name_every_method_of_the_path(backed: Station) -> None:
    async with backed.client("admin") as admin:
        options = await admin.options("/api/queue")
        assert options.status_code == 204
        assert options.headers["allow"] == "GET, HEAD, POST, OPTIONS"
        wrong = await admin.put("/api/users/viewer1")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "PATCH, OPTIONS"
        wrong = await admin.delete("/api/auth/token")
        assert wrong.headers["allow"] == "POST, OPTIONS"


async def test_wrong_logins_are_throttled_with_retry_after(tmp_path: Path) -> None:
    async with Lab(station_settings(tmp_path)) as lab:
        await add_users(lab)
        app = create_app(lab)
        clock = FakeClock()
        app.state.login_throttle = LoginThrottle(now=clock, tarpit_s=0.0)
        station = Station(lab, app, {}, {})
        right = {"username": "operator1", "password": "operator-pw-123"}
        wrong = {"username": "operator1", "password": "guess"}
        async with station.client() as anon:
            # Five typos are free: each a plain 401.
            for _ in range(5):
                assert (await anon.post("/api/auth/token", json=wrong)).status_code == 401
            # The sixth attempt must wait 1 s, even with the right password (the user's
            # count; the client address gets 20 free ones).
            got = await anon.post("/api/auth/token", json=right)
            assert got.status_code == 429 and got.headers["retry-after"] == "1"
            clock.t += 1.0
            assert (await anon.post("/api/auth/token", json=wrong)).status_code == 401
            # The next wait doubles: 2 s, and 1.5 s later it is still 1 s away (rounded up).
            clock.t += 0.5
            got = await anon.post("/api/auth/token", json=right)
            assert got.status_code == 429 and got.headers["retry-after"] == "2"
            clock.t += 1.5
            assert (await anon.post("/api/auth/token", json=right)).status_code == 200
            # A right login clears the count: five typos are free again.
            for _ in range(5):
                assert (await anon.post("/api/auth/token", json=wrong)).status_code == 401
            assert (await anon.post("/api/auth/token", json=wrong)).status_code == 429
            # 50 wrong in a row: after 5 + the doubling waits, never accepted without waiting.
            clock.t += 1000.0  # forgotten after 15 min without a failure
            for i in range(50):
                got = await anon.post("/api/auth/token", json=wrong)
                if got.status_code == 429:
                    clock.t += float(got.headers["retry-after"])
                    got = await anon.post("/api/auth/token", json=wrong)
                assert got.status_code == 401, i
            got = await anon.post("/api/auth/token", json=right)
            assert got.status_code == 429
            assert int(got.headers["retry-after"]) == 300  # the cap
        async with lab.sessions() as session:
            admin_token, _ = await accounts.issue_token(session, "admin1")
        async with station.client() as client:
            got = await client.get("/api/audit?limit=1000",
                                   headers={"Authorization": f"Bearer {admin_token}"})
            assert got.status_code == 200
            rows = got.json()
        assert sum(1 for r in rows if r["result"] == "refused 429") >= 4


async def test_the_last_admin_cannot_be_demoted_or_disabled(backed: Station) -> None:
    async with backed.client("admin") as admin:
        for change in ({"role": "operator"}, {"disabled": True}):
            got = await admin.patch("/api/users/admin1", json=change)
            assert got.status_code == 409, got.text
            assert "last enabled admin" in got.json()["detail"]
        # With a second admin, the first may step down; then the second is the last.
        assert (await admin.patch("/api/users/operator1", json={"role": "admin"})
                ).status_code == 200
        assert (await admin.patch("/api/users/admin1", json={"role": "viewer"})
                ).status_code == 200
    async with backed.lab.sessions() as session:
        with pytest.raises(accounts.AccountError, match="last enabled admin"):
            await accounts.set_role(session, "operator1", "viewer")
    await audit_readable_by(backed, "operator1")


async def audit_readable_by(station: Station, admin_name: str) -> None:
    async with station.lab.sessions() as session:
        token, _ = await accounts.issue_token(session, admin_name)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=station.app),
                                 base_url="http://lab",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        got = await client.get("/api/audit")
        assert got.status_code == 200
        assert any(r["result"] == "refused 409" for r in got.json())


async def test_every_token_expires_within_the_maximum_lifetime(backed: Station) -> None:
    async with backed.lab.sessions() as session:
        for hours in (None, 0.0, 721.0, 0.01):
            lifetime = None if hours is None else hours * 3600
            with pytest.raises(accounts.AccountError, match="a token lives between"):
                await accounts.issue_token(session, "viewer1", lifetime)
        _, expires = await accounts.issue_token(session, "viewer1", 720 * 3600)
        assert expires is not None


async def test_twenty_clients_guessing_at_once_cost_at_most_the_free_hashes(
    tmp_path: Path, default_hasher: None
) -> None:
    """20 clients × 10 wrong logins at once, each for a user name of its own (a spray
    from one address): the free guesses of that address (20) are hashed, the other 180
    attempts are told to wait without any hashing, and the press is polled throughout."""
    async with Lab(station_settings(tmp_path)) as lab:
        app = create_app(lab)
        # The throttle's clock stands still: its waits are not what is measured here.
        app.state.login_throttle = LoginThrottle(now=FakeClock(), tarpit_s=0.0)
        station = Station(lab, app, {}, {})
        hashes_before = accounts.HASHES.computed
        polls_before = lab.pollers["press1"].polls

        async def guesser(i: int) -> list[int]:
            codes = []
            async with station.client() as anon:
                for _ in range(10):
                    got = await anon.post("/api/auth/token",
                                          json={"username": f"user{i}", "password": "x"})
                    codes.append(got.status_code)
            return codes

        results = await asyncio.gather(*(guesser(i) for i in range(20)))
        codes = [c for r in results for c in r]
        hashed = accounts.HASHES.computed - hashes_before
        assert codes.count(401) == 20 and codes.count(429) == 180, sorted(set(codes))
        assert hashed == 20
        assert lab.pollers["press1"].polls > polls_before
        async with station.client() as anon:
            metrics = (await anon.get("/metrics")).text
        assert "daq_api_logins_throttled_total 180" in metrics
