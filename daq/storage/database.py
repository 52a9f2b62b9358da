"""Engines, sessions and schema management for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a commit survives a process crash;
only an OS crash can lose the last transactions) and a busy timeout, with foreign keys
enforced so it behaves like PostgreSQL. PostgreSQL is reached through asyncpg.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.ext.asyncio import (
    create_async_engine as _create_async_engine,
)

from daq.storage.errors import DatabaseUrlError

#: Default time a SQLite connection waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_S = 5.0


def backend_of(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a database URL; anything else is refused."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise DatabaseUrlError(url, str(exc)) from exc
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(url, f"backend {backend!r} is not supported")
    return backend


def async_url(url: str) -> str:
    """The URL with the async driver the service uses (aiosqlite / asyncpg)."""
    parsed = make_url(url)
    backend = backend_of(url)
    driver = parsed.get_driver_name()
    if backend == "sqlite" and driver != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and driver != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(
    url: str, *, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, **kwargs: Any
) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite…`` or ``postgresql…``), tuned for the station.

    ``busy_timeout_s`` is how long a SQLite connection waits for a lock held by another
    connection before the statement fails (and the caller's retry logic takes over).
    """
    url = async_url(url)
    if backend_of(url) == "sqlite":
        engine = _create_async_engine(url, **kwargs)
        busy_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine`` whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_all(engine: AsyncEngine) -> None:
    """Create every table of every area directly (tests; production uses :func:`upgrade`)."""
    from daq.storage.all_models import metadata

    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def drop_all(engine: AsyncEngine) -> None:
    """Drop every table of every area (tests)."""
    from daq.storage.all_models import metadata

    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


async def upgrade(url_or_engine: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` with Alembic (``daq db upgrade``, service start)."""
    from daq.storage.migrate import run_alembic

    await run_alembic(url_or_engine, "upgrade", revision)


async def downgrade(url_or_engine: str | AsyncEngine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` empties it)."""
    from daq.storage.migrate import run_alembic

    await run_alembic(url_or_engine, "downgrade", revision)


async def current_revision(url_or_engine: str | AsyncEngine) -> str | None:
    """The Alembic revision the database is at (``None`` if never migrated)."""
    from daq.storage.migrate import revision_of

    return await revision_of(url_or_engine)
