"""Login, roles (viewer < operator < admin), user management and the audit of every write."""

from __future__ import annotations

import time

from sqlalchemy import delete, select

from daq.api import accounts
from daq.storage.auth_models import ApiToken, User
from daq.storage.models import AuditLog
from tests.api.conftest import Station


async def audit_rows(station: Station) -> list[AuditLog]:
    async with station.lab.sessions() as session:
        return list((await session.scalars(select(AuditLog).order_by(AuditLog.id))).all())


async def test_login_gives_a_token_that_reads_and_a_wrong_password_is_refused(
    station: Station,
) -> None:
    async with station.client() as anon:
        refused = await anon.post(
            "/api/auth/token", json={"username": "operator1", "password": "wrong"}
        )
        assert refused.status_code == 401
        assert (await anon.get("/api/runs")).status_code == 401
        ok = await anon.post(
            "/api/auth/token", json={"username": "operator1", "password": "operator-pw-123"}
        )
        assert ok.status_code == 200
        token = ok.json()["access_token"]
        me = await anon.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"username": "operator1", "role": "operator"}
        out = await anon.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert out.status_code == 204
        again = await anon.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401
    logins = [r for r in await audit_rows(station) if r.action == "auth.login"]
    assert [(r.user, r.result) for r in logins] == [
        ("operator1", "denied 401"),
        ("operator1", "ok"),
    ]


async def test_viewer_reads_but_is_refused_a_start_with_403_and_the_refusal_is_audited(
    station: Station,
) -> None:
    async with station.client("viewer") as viewer:
        for path in ("/api/runs", "/api/instruments", "/api/recipes", "/api/samples"):
            assert (await viewer.get(path)).status_code == 200, path
        refused = await viewer.post("/api/press/cycles", json={"recipe_name": "default"})
        assert refused.status_code == 403
        assert "operator" in refused.json()["detail"]
    assert station.lab.active_runs() == []
    row = (await audit_rows(station))[-1]
    assert (row.user, row.action, row.result) == ("viewer1", "press.start", "denied 403")


async def test_user_management_needs_admin_and_a_new_operator_can_log_in(
    station: Station,
) -> None:
    async with station.client("operator") as operator:
        assert (await operator.get("/api/users")).status_code == 403
        refused = await operator.post("/api/users", json={"name": "eve", "role": "admin"})
        assert refused.status_code == 403
    async with station.client("admin") as admin:
        created = await admin.post("/api/users", json={"name": "kim", "role": "operator"})
        assert created.status_code == 201
        password = created.json()["password"]
        dup = await admin.post("/api/users", json={"name": "kim", "role": "operator"})
        assert dup.status_code == 409
        bad_role = await admin.post("/api/users", json={"name": "lee", "role": "boss"})
        assert bad_role.status_code == 422
        assert bad_role.json()["detail"][0]["field"] == "role"
        demoted = await admin.patch("/api/users/kim", json={"role": "viewer"})
        assert demoted.json()["role"] == "viewer"
        names = {u["name"] for u in (await admin.get("/api/users")).json()}
        assert {"kim", "viewer1", "operator1", "admin1"} <= names
    async with station.client() as anon:
        ok = await anon.post("/api/auth/token", json={"username": "kim", "password": password})
        assert ok.json()["role"] == "viewer"
    rows = await audit_rows(station)
    assert ("operator1", "user.add", "eve", "denied 403") in [
        (r.user, r.action, r.target, r.result) for r in rows
    ]
    change = next(r for r in rows if r.action == "user.change")
    assert (change.user, change.from_state, change.result) == ("admin1", "operator", "ok")


async def test_ensure_admin_creates_one_admin_on_first_start_only(station: Station) -> None:
    # The fixture's users exist already: nothing is created.
    assert await accounts.ensure_admin(station.lab.sessions) is None
    async with station.lab.sessions() as session:
        await session.execute(delete(ApiToken))
        await session.execute(delete(User))
        await session.commit()
    password = await accounts.ensure_admin(station.lab.sessions)
    assert password
    async with station.lab.sessions() as session:
        principal = await accounts.authenticate(session, "admin", password)
    assert principal == accounts.Principal("admin", "admin")
    assert await accounts.ensure_admin(station.lab.sessions) is None
    assert "daq user add" in accounts.login_hint("http://127.0.0.1:8000/", "admin", password)


async def test_expired_and_garbage_tokens_are_refused(station: Station) -> None:
    async with station.lab.sessions() as session:
        expired, _ = await accounts.issue_token(session, "admin1", lifetime_s=60.0)
        # Its minute is over: written as an hour ago (the test does not wait a minute).
        row = (await session.scalars(select(ApiToken).where(
            ApiToken.token_hash == accounts.token_digest(expired)))).one()
        row.expires_ts = time.time() - 3600.0
        await session.commit()
    async with station.client() as anon:
        for token in (expired, "garbage", ""):
            r = await anon.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, token


async def test_every_state_changing_call_is_audited_with_its_user_and_result(
    station: Station,
) -> None:
    calls: list[tuple[str, str, str, dict[str, object] | None, str]] = [
        # (role, method, path, json, expected action)
        ("operator", "PUT", "/api/recipes/r1", {"temperature_c": 180}, "recipe.put"),
        ("operator", "PUT", "/api/recipes/r2", {"temperature_c": 999}, "recipe.put"),
        ("viewer", "DELETE", "/api/recipes/r1", None, "recipe.delete"),
        ("operator", "DELETE", "/api/recipes/r1", None, "recipe.delete"),
        ("operator", "POST", "/api/runs/press-000000000000/abort", None, "run.abort"),
        ("admin", "POST", "/api/users", {"name": "zed", "role": "viewer"}, "user.add"),
        ("admin", "PATCH", "/api/users/zed", {"disabled": True}, "user.change"),
        ("viewer", "POST", "/api/auth/logout", None, "auth.logout"),
    ]
    statuses = []
    for role, method, path, body, _ in calls:
        async with station.client(role) as client:
            r = await client.request(method, path, json=body)
            statuses.append(r.status_code)
    assert statuses == [200, 422, 403, 204, 404, 201, 200, 204]
    rows = [r for r in await audit_rows(station) if "method" in (r.detail or {})]
    assert [(r.user, r.action, r.result) for r in rows] == [
        (f"{role}1", action, result)
        for (role, _, _, _, action), result in zip(
            calls,
            ["ok", "refused 422", "denied 403", "ok", "refused 404", "ok", "ok", "ok"],
            strict=True,
        )
    ]
    assert all(r.wall_ts > 0 and r.ts > 0 for r in rows)
    assert rows[1].detail["request"] == {"temperature_c": 999}
    assert rows[6].target == "zed" and rows[6].from_state == "viewer"
