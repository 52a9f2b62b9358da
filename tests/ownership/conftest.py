"""Fixtures of the ownership tests: a migrated database and claimers on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.storage.database import create_engine, session_factory, upgrade


@pytest.fixture
async def migrated(db_url: str) -> AsyncIterator[str]:
    """``db_url`` migrated to head (as a station finds it)."""
    await upgrade(db_url)
    yield db_url


@pytest.fixture
async def station_sessions(migrated: str) -> AsyncIterator[
        tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]]:
    """Two independent engines on one database, as two stations have."""
    a, b = create_engine(migrated), create_engine(migrated)
    try:
        yield session_factory(a), session_factory(b)
    finally:
        await a.dispose()
        await b.dispose()
