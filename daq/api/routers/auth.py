"""Login (name/password → bearer token), who-am-I, logout, and user management (admin)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select

from daq.api import accounts
from daq.api.audit import audited, note_action, note_user
from daq.api.deps import Admin, SessionDep, Viewer, bearer_token
from daq.api.schemas import (
    AuditOut,
    LoginRequest,
    RolePatch,
    TokenOut,
    UserCreated,
    UserIn,
    UserOut,
    WhoAmI,
    error_responses,
)
from daq.api.throttle import LoginThrottle, login_keys, retry_after_header
from daq.storage.auth_models import User
from daq.storage.models import AuditLog

router = APIRouter(tags=["auth"], responses=error_responses(401, 403, 404, 409))


def login_throttle(request: Request) -> LoginThrottle:
    """The app's login throttle (made in ``create_app``)."""
    throttle = request.app.state.login_throttle
    assert isinstance(throttle, LoginThrottle)
    return throttle


@router.post("/api/auth/token", response_model=TokenOut, responses=error_responses(429),
             **audited("auth.login"))
async def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenOut:
    """Exchange a user name and password for a bearer token."""
    note_user(request, body.username)
    note_action(request, "auth.login", target=body.username)
    throttle = login_throttle(request)
    keys = login_keys(body.username, request.client.host if request.client else None)
    wait = throttle.admit(keys)
    if wait > 0:  # checked before any hashing: guessing costs the guesser, not the station
        await asyncio.sleep(min(wait, throttle.tarpit_s))
        wait = max(0.0, wait - min(wait, throttle.tarpit_s))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many wrong logins; try again in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)})
    principal = await accounts.authenticate(session, body.username, body.password)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong user name or password")
    throttle.succeeded(keys)
    token, expires = await accounts.issue_token(session, principal.name)
    return TokenOut(
        access_token=token, username=principal.name, role=principal.role, expires_ts=expires
    )


@router.get("/api/auth/me", response_model=WhoAmI)
async def who_am_i(me: Viewer) -> WhoAmI:
    """The caller's name and role."""
    return WhoAmI(username=me.name, role=me.role)


@router.post("/api/auth/logout", status_code=204, **audited("auth.logout"))
async def logout(request: Request, me: Viewer, session: SessionDep) -> None:
    """Revoke the token this request was made with."""
    note_action(request, "auth.logout", target=me.name)
    token = bearer_token(request)
    if token:
        await accounts.revoke_token(session, token)


@router.get("/api/users", response_model=list[UserOut])
async def list_users(_: Admin, session: SessionDep) -> list[User]:
    """Every user (admin)."""
    return await accounts.list_users(session)


@router.post(
    "/api/users", response_model=UserCreated, status_code=201, **audited("user.add")
)
async def add_user(body: UserIn, request: Request, _: Admin, session: SessionDep) -> UserCreated:
    """Create a user (admin); the password is shown once."""
    note_action(request, "user.add", target=body.name, role=body.role)
    try:
        password = await accounts.add_user(session, body.name, body.role, body.password)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    user = await session.get(User, body.name)
    assert user is not None
    return UserCreated(
        name=user.name,
        role=user.role,
        created_ts=user.created_ts,
        disabled=user.disabled,
        password=password,
    )


@router.patch("/api/users/{name}", response_model=UserOut, **audited("user.change"))
async def change_user(
    name: str, body: RolePatch, request: Request, _: Admin, session: SessionDep
) -> User:
    """Change a user's role or disable them (admin)."""
    user = await session.get(User, name)
    note_action(
        request, "user.change", target=name, from_state=user.role if user else None,
        **body.model_dump(exclude_none=True),
    )
    try:
        return await accounts.change_user(session, name, role=body.role,
                                          disabled=body.disabled)
    except accounts.UnknownUser as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


@router.get("/api/audit", response_model=list[AuditOut])
async def audit_log(
    _: Admin,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    user: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditLog]:
    """The newest audit rows (admin), optionally of one user."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if user:
        query = query.where(AuditLog.user == user)
    return list((await session.scalars(query)).all())
