"""Alembic environment: migrates the whole schema (every area's tables), async-aware."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from daq.storage.all_models import metadata

config = context.config


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online_async(url: str) -> None:
    from daq.storage.database import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_on)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Use the connection handed over by ``daq.storage.migrate``, or open one from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url")
    if context.is_offline_mode():
        _run_offline(url)
    else:
        asyncio.run(_run_online_async(url))


main()
