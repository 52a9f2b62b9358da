"""The 0008_queue migration builds queue_items as modelled (SQLite and PostgreSQL) and
undoes it back to 0007 (the instrument claims stay)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, downgrade, upgrade


async def _tables(url: str) -> tuple[set[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        return tables, diffs
    finally:
        await engine.dispose()


async def test_upgrade_builds_queue_items_as_modelled_and_downgrade_removes_it(
    db_url: str,
) -> None:
    await upgrade(db_url)
    tables, diffs = await _tables(db_url)
    assert "queue_items" in tables
    assert [d for d in diffs if "queue_items" in repr(d)] == []
    await downgrade(db_url, "0007")
    tables, _ = await _tables(db_url)
    assert "queue_items" not in tables and "instrument_claims" in tables
