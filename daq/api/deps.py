"""FastAPI dependencies: the station, database sessions, the caller and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api.accounts import Principal
from daq.api.audit import note_user
from daq.api.principals import PrincipalCache
from daq.station.interface import Station


async def get_station(request: Request) -> Station:
    """The running station the app was created for (``async``: FastAPI runs a plain
    function dependency in its thread pool, a thread hop per request that was a fifth
    of the CPU of ``GET /health``)."""
    station: Station = request.app.state.station
    return station


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The station's database session factory."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One database session for the request."""
    async with get_sessions(request)() as session:
        yield session


StationDep = Annotated[Station, Depends(get_station)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_principals(request: Request) -> PrincipalCache:
    """The app's cache of token lookups."""
    principals: PrincipalCache = request.app.state.principals
    return principals


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The authenticated caller; 401 without a valid bearer token."""
    token = bearer_token(request)
    principal = None
    if token:
        principals = get_principals(request)
        principal = principals.cached(token)  # nearly always: no lookup, no await
        if principal is None:
            principal = await principals.resolve(get_sessions(request), token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not logged in: send 'Authorization: Bearer <token>' "
            "(POST /api/auth/token gives one)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    note_user(request, principal.name)
    return principal


async def authorize(request: Request, role: str) -> Principal:
    """The caller, if their role is at least ``role``: 401 without a valid token, 403
    with too low a role. What the :data:`Viewer`, :data:`Operator` and :data:`Admin`
    dependencies check; the reads polled most call it themselves, which spares them a
    FastAPI dependency per request (a fifth of the CPU of ``GET /api/instruments``)."""
    principal = await current_principal(request)
    if not principal.has(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"user {principal.name!r} has role {principal.role}; "
            f"this needs {role} or higher",
        )
    return principal


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting callers whose role is at least ``role``."""

    async def check(request: Request) -> Principal:
        return await authorize(request, role)

    check.__name__ = f"require_{role}"
    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
