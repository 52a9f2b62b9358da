"""The FastAPI application of a station: ``create_app(lab)``.

The caller owns the station (``async with Lab(settings) as lab``); the app only reads
it and asks it to start and abort procedures. Routers per area, the audit middleware,
error shaping, the live stream hub, and the dashboard's static files at ``/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api import accounts
from daq.api.audit import AuditCounters, AuditMiddleware
from daq.api.errors import install_error_handlers
from daq.api.extensions import include_area_routers
from daq.api.guard import BodyGuard
from daq.api.principals import PrincipalCache
from daq.api.probe import DatabaseProbe
from daq.api.routers import (
    alarms,
    auth,
    engine,
    instruments,
    press,
    queue,
    recipes,
    runs,
    samples,
    stream,
    system,
)
from daq.api.routers.instruments import instruments_snapshot, stored_instruments
from daq.api.routers.system import health_snapshot
from daq.api.schemas import HealthOut, InstrumentOut, declare_recipe_windows, error_responses
from daq.api.snapshots import FreshAfterCommands
from daq.api.stream import StreamHub
from daq.api.throttle import LoginThrottle
from daq.station.interface import Station

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

DESCRIPTION = """Operator API of a Lamina DAQ station: instruments, recipes, press cycles,
runs and their readings, samples, and a live stream. Log in with
`POST /api/auth/token` and send `Authorization: Bearer <token>`. Roles: viewer (read),
operator (start/abort, recipes), admin (users, audit)."""


def install_recipe_windows_in_schema(app: FastAPI) -> None:
    """Declare the recipe windows as ``minimum``/``maximum`` in the OpenAPI schema.

    ``PressRecipe`` checks them in a validator (for its plain-words message), which the
    generated schema cannot see; clients and schemathesis should.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.get("components", {}).get("schemas", {})
        for model in ("PressRecipe", "PressCycleParams"):
            declare_recipe_windows(components.get(model, {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_hot_reads(app: FastAPI) -> None:
    """``GET /health`` and ``GET /api/instruments``, the reads polled most, as routes of
    the app itself, matched before any router. FastAPI (0.165) matches and runs a route
    of an included router through a layer of its own, which cost these two requests a
    quarter of their CPU (issue 16); every other route stays in its area's router."""
    app.add_api_route("/health", system.health, methods=["GET"], response_model=HealthOut,
                      tags=["system"])
    app.add_api_route("/api/instruments", instruments.list_instruments, methods=["GET"],
                      response_model=list[InstrumentOut], tags=["instruments"],
                      responses=error_responses(401, 403))


def create_app(
    station: Station, sessions: async_sessionmaker[AsyncSession] | None = None
) -> FastAPI:
    """The API and dashboard of ``station`` (a running ``daq.station.lab.Lab``)."""
    sessions = sessions or station.sessions
    hub = StreamHub(station.bus)
    accounts.dummy_password_hash()  # made now, so the first unknown-name login is not faster

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await hub.close()

    app = FastAPI(
        title="Lamina DAQ",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    counters = AuditCounters()
    app.state.station = station
    app.state.lab = station  # the old name, for scripts that read it
    app.state.sessions = sessions
    app.state.stream_hub = hub
    app.state.audit_counters = counters
    app.state.login_throttle = LoginThrottle()
    app.state.principals = PrincipalCache()
    app.state.database_probe = DatabaseProbe(sessions)
    app.state.stored_instruments = stored_instruments(sessions)
    app.state.health_snapshot = health_snapshot(station, app.state.database_probe)
    app.state.instruments_snapshot = instruments_snapshot(
        station, sessions, app.state.stored_instruments)
    # Innermost: forgets the snapshots once a command is answered, refused or not.
    app.add_middleware(FreshAfterCommands, snapshots=[app.state.health_snapshot,
                                                      app.state.instruments_snapshot])
    # Added next, so it runs inside the audit: a refused body is audited too.
    app.add_middleware(BodyGuard)
    app.add_middleware(AuditMiddleware, sessions=sessions, clock=station.clock, counters=counters)
    install_error_handlers(app)
    add_hot_reads(app)
    for module in (system, auth, instruments, alarms, recipes, press, engine, runs, queue,
                   samples, stream):
        app.include_router(module.router)
    include_area_routers(app)
    install_recipe_windows_in_schema(app)
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="dashboard")
    return app
