"""Alembic migrations on SQLite and PostgreSQL: empty → head, previous → head, round trip."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, current_revision, downgrade, upgrade
from daq.storage.migrate import head_revision

CORE_TABLES = {
    "instruments",
    "samples",
    "laminates",
    "specimens",
    "runs",
    "run_events",
    "readings",
    "mqtt_outbox",
    "alarms",
    "audit_log",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
        return set(names)
    finally:
        await engine.dispose()


def _core_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = []
    for diff in compare_metadata(context, metadata):
        items = diff if isinstance(diff, list) else [diff]
        for item in items:
            text = repr(item)
            if any(f"'{table}'" in text or f"<{table}>" in text for table in CORE_TABLES):
                diffs.append(item)
    return diffs


async def test_empty_database_upgrades_to_head(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    assert await _tables(db_url) >= CORE_TABLES


async def test_core_revision_matches_the_models(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_core_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_database_at_previous_revision_upgrades_to_head(db_url: str) -> None:
    await upgrade(db_url, "0001")
    assert await current_revision(db_url) == "0001"
    assert await _tables(db_url) >= CORE_TABLES
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()


async def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    await upgrade(db_url)
    await downgrade(db_url, "base")
    assert await current_revision(db_url) is None
    assert not CORE_TABLES & await _tables(db_url)
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    assert await _tables(db_url) >= CORE_TABLES
