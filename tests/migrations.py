"""What a migration test reads of a database (its tables, and how its schema differs from
the models: alembic's autogenerate comparison), and a revision's round trip checked on it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, downgrade, upgrade


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


async def check_round_trip(url: str, tables: set[str], down_to: str, kept: str) -> None:
    """A revision's round trip: upgraded to head, ``tables`` are there and match the models
    exactly; downgraded to ``down_to`` they are gone while ``kept`` (of an earlier revision)
    stays; upgraded again, they are back."""
    await upgrade(url)
    present, diffs = await tables_and_diffs(url)
    assert present >= tables
    assert [d for d in diffs if any(t in repr(d) for t in tables)] == []
    await downgrade(url, down_to)
    present, _ = await tables_and_diffs(url)
    assert not present & tables and kept in present
    await upgrade(url)
    present, _ = await tables_and_diffs(url)
    assert present >= tables
