"""The 0003_aging migration builds the tables the models describe, and undoes them."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, downgrade, upgrade

AGING_TABLES = {"aging_runs", "aging_excursions", "aging_pullouts"}


async def test_upgrade_builds_the_aging_tables_as_modelled_and_downgrade_removes_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        assert tables >= AGING_TABLES
        ours = [d for d in diffs if any(t in repr(d) for t in AGING_TABLES)]
        assert ours == []
        await downgrade(url, "0002")
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not tables & AGING_TABLES and "specimens" in tables
        await upgrade(url)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables >= AGING_TABLES
    finally:
        await engine.dispose()
