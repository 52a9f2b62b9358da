"""A real station (simulators, SQLite file, embedded broker) with the API on top, and users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from daq.api import accounts, create_app
from daq.config import Settings
from daq.station.lab import Lab


@dataclass
class Station:
    """A running Lab, its API app and a client per role."""

    lab: Lab
    app: Any
    tokens: dict[str, str]
    passwords: dict[str, str]

    def client(self, role: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://lab", headers=headers
        )


def station_settings(tmp_path: Path, scale: float = 600.0, **extra: Any) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}",
        mqtt_url="embedded",
        embedded_mqtt_port=0,
        mqtt_prefix=f"lamina/test-{tmp_path.name[-8:]}",
        time_scale=scale,
        **{"campaigns_dir": tmp_path / "campaigns", **extra},
    )


async def add_users(lab: Lab) -> tuple[dict[str, str], dict[str, str]]:
    tokens: dict[str, str] = {}
    passwords: dict[str, str] = {}
    async with lab.sessions() as session:
        for role in ("viewer", "operator", "admin"):
            passwords[role] = await accounts.add_user(session, f"{role}1", role, f"{role}-pw-123")
            tokens[role], _ = await accounts.issue_token(session, f"{role}1")
    return tokens, passwords


@asynccontextmanager
async def running_station(settings: Settings) -> AsyncIterator[Station]:
    """A Lab on ``settings`` with its API and a user (and token) per role."""
    async with Lab(settings) as lab:
        tokens, passwords = await add_users(lab)
        app = create_app(lab)
        async with app.router.lifespan_context(app):
            yield Station(lab, app, tokens, passwords)


@pytest_asyncio.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    async with running_station(station_settings(tmp_path)) as running:
        yield running
