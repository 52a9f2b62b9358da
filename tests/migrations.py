"""What a migration test reads of a database: its tables, and how its schema differs from
the models (alembic's autogenerate comparison)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daq.storage.all_models import metadata
from daq.storage.database import create_engine


async def tables_and_diffs(url: str) -> tuple[set[str], list[object]]:
    """The tables of the database at ``url`` and its differences from the models."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        return tables, diffs
    finally:
        await engine.dispose()
