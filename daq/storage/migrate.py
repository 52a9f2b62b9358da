"""Alembic driven from code, so ``daq db upgrade`` works from an installed package.

The migration scripts live in ``daq/storage/migrations`` (package data); no
``alembic.ini`` is needed. Migrations run on an async engine through ``run_sync``, so the
service can migrate at start-up inside its event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

#: Where Alembic finds env.py and versions/, as a package resource.
SCRIPT_LOCATION = "daq.storage:migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at our migration scripts (and ``url`` if given)."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: PostgreSQL advisory lock key held while migrating, so stations that share one database
#: and start together migrate one after the other.
MIGRATION_LOCK_KEY = 0x4C414D31  # "LAM1"


def _command_on(connection: Connection, operation: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    getattr(command, operation)(cfg, revision)


def _revision_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _with_engine(url_or_engine: str | AsyncEngine, fn: Any, *args: Any) -> Any:
    from daq.storage.database import create_engine

    engine = create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn, *args)
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()


#: Alembic keeps its migration context in module globals, so one process runs one
#: migration at a time (per event loop; other processes are held off by the database lock).
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _loop_locks.get(loop)
    if lock is None:
        lock = _loop_locks[loop] = asyncio.Lock()
    return lock


async def run_alembic(url_or_engine: str | AsyncEngine, operation: str, revision: str) -> None:
    """Run ``alembic upgrade|downgrade revision`` on the database."""
    if operation not in ("upgrade", "downgrade"):
        raise ValueError(f"unknown Alembic operation {operation!r}")
    async with _process_lock():
        await _with_engine(url_or_engine, _command_on, operation, revision)


async def revision_of(url_or_engine: str | AsyncEngine) -> str | None:
    """The revision the database is at (``None`` if it was never migrated)."""
    result: str | None = await _with_engine(url_or_engine, _revision_on)
    return result


def head_revision() -> str | None:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
