"""Engines, sessions and schema management for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a commit survives a process crash;
only an OS crash can lose the last transactions) and a busy timeout, with foreign keys
enforced so it behaves like PostgreSQL. PostgreSQL is reached through asyncpg.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.ext.asyncio import (
    create_async_engine as _create_async_engine,
)

from daq.storage.errors import SQLITE_BROKEN, DatabaseUrlError

log = logging.getLogger(__name__)

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


def shown_url(url: str) -> str:
    """The URL as it may be printed (password hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (``None`` for another backend or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


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
            # The wait for a lock first: switching to WAL takes one, and without a busy
            # timeout it fails at once ("database is locked") while another connection
            # writes, as three concurrent upgrades of a new database showed.
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        warned = [0.0]

        @event.listens_for(engine.sync_engine, "handle_error")
        def _recycle_broken(context: Any) -> None:
            # A connection opened while the file could not be written (read-only, full
            # or failing disk) stays read-only for its life: treat the error as a lost
            # connection, so the pool throws its connections away and the next try
            # opens fresh ones (which write again once the file can be written).
            if sqlite_connection_broken(context.original_exception):
                context.is_disconnect = True
                if time.monotonic() - warned[0] >= BROKEN_WARNING_EVERY_S:  # one line
                    warned[0] = time.monotonic()
                    log.warning("SQLite: %s; recycling the station's connections",
                                str(context.original_exception).splitlines()[0])

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create_async_engine(url, **kwargs)


#: A broken SQLite file is said in one log line per this many seconds, not per error.
BROKEN_WARNING_EVERY_S = 60.0


def sqlite_connection_broken(exc: BaseException) -> bool:
    """True for a SQLite error that a fresh connection may not have (read-only, I/O)."""
    from_sqlite = isinstance(exc, sqlite3.Error) or "sqlite" in type(exc).__module__
    return from_sqlite and any(word in str(exc).lower() for word in SQLITE_BROKEN)


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


#: The migration scripts (package data), read for their revision ids without Alembic.
MIGRATION_VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION = re.compile(r'^revision(?:\s*:\s*str)?\s*=\s*"([^"]+)"\s*$', re.MULTILINE)
_DOWN_REVISION = re.compile(
    r'^down_revision(?:\s*:\s*str\s*\|\s*None)?\s*=\s*(?:"([^"]+)"|None)\s*$', re.MULTILINE
)


def script_head() -> str | None:
    """The head revision of the migration scripts, read from their text (importing Alembic,
    its environment and every model costs about a second); ``None`` unless every script
    names one plain revision and one parent and they form a single chain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in MIGRATION_VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(rev) != 1 or len(down) != 1:
            return None  # a merge, a branch or an unusual header: let Alembic decide
        revisions.add(rev[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def database_revision(url_or_engine: str | AsyncEngine) -> str | None:
    """The revision in ``alembic_version`` read with one query (``None``: never migrated)."""
    engine = create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        async with engine.connect() as conn:
            try:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version")))
                versions = rows.scalars().all()
            except DBAPIError:  # no such table yet
                return None
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()
    return str(versions[0]) if len(versions) == 1 else None


async def upgrade(url_or_engine: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` with Alembic (``daq db upgrade``, service start).

    A database already at the scripts' head is left alone without loading Alembic: every
    ``daq user …`` call migrates first, and that check alone cost ~0.5 s of CPU."""
    if revision == "head":
        head = script_head()
        if head is not None and await database_revision(url_or_engine) == head:
            return
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
