"""The 0006_campaign migration builds the tables the models describe (SQLite and
PostgreSQL), and undoes them back to 0005."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, downgrade, upgrade

CAMPAIGN_TABLES = {"campaigns", "campaign_steps"}


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


async def test_upgrade_builds_the_campaign_tables_as_modelled_and_downgrade_removes_them(
    db_url: str,
) -> None:
    await upgrade(db_url)
    tables, diffs = await _tables(db_url)
    assert tables >= CAMPAIGN_TABLES
    assert [d for d in diffs if any(t in repr(d) for t in CAMPAIGN_TABLES)] == []
    await downgrade(db_url, "0005")
    tables, _ = await _tables(db_url)
    assert not tables & CAMPAIGN_TABLES and "runs" in tables
    await upgrade(db_url)
    tables, _ = await _tables(db_url)
    assert tables >= CAMPAIGN_TABLES
