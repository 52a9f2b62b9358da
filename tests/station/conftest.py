"""A real station (simulators, SQLite, embedded broker) with its API and background
services (front-panel peel watcher, aging resumption), and one operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from daq.api import create_app
from daq.station.background import background_services
from daq.station.lab import Lab
from tests.api.conftest import Station, add_users, station_settings


@pytest_asyncio.fixture
async def serving(tmp_path: Path) -> AsyncIterator[Station]:
    """A station as `daq run` serves it: Lab, background services, API."""
    async with Lab(station_settings(tmp_path, scale=600.0)) as lab, background_services(lab):
        tokens, passwords = await add_users(lab)
        app = create_app(lab)
        async with app.router.lifespan_context(app):
            yield Station(lab, app, tokens, passwords)
