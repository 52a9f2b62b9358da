"""Typed errors of the storage layer, each saying what a person can do about it."""

from __future__ import annotations

import importlib
from typing import Any


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""


class DatabaseUrlError(StorageError):
    """A database URL that is malformed or names a backend we do not support."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(
            f"database URL {url!r} is not usable: {detail} "
            "(use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db)"
        )


class DatabaseUnavailable(StorageError):
    """The database could not be reached or stayed locked for longer than we wait."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"database {url} is unavailable: {detail}")


class RunNotFound(StorageError):
    """No run with this id is on record."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {run_id!r} on record (see `daq runs list`)")


def explain_failure(exc: BaseException, shown_url: str) -> str | None:
    """What a person reads when using the database at ``shown_url`` failed with ``exc``
    (a SQLAlchemy or driver error, or a lost connection); ``None`` for other errors."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.OperationalError | sa_exc.ProgrammingError):
        text = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        if "no such table" in text or "does not exist" in text:
            return (f"the database {shown_url} has no Lamina tables yet: run `daq db upgrade` "
                    f"({text})")
        return f"cannot use the database {shown_url}: {text}"
    if isinstance(exc, sa_exc.DBAPIError | OSError):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot reach the database {shown_url}: {text}"
    return None


#: SQLite errors after which a connection is of no further use (the file was read-only,
#: full or failing when it was opened): transient, and the connection is recycled.
SQLITE_BROKEN = ("readonly database", "disk i/o error", "database or disk is full",
                 "unable to open database file")


def is_transient(exc: BaseException) -> bool:
    """True for faults that clear by themselves: a locked SQLite file, a database that is
    restarting or unreachable, a dropped connection. Worth retrying with back-off.

    Covers SQLAlchemy's wrapped errors and the raw driver errors of the bulk path
    (``sqlite3`` through aiosqlite, asyncpg)."""
    import sqlite3

    from sqlalchemy import exc as sa_exc

    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    pg: Any = importlib.import_module("asyncpg.exceptions")  # untyped library
    if isinstance(
        exc,
        pg.PostgresConnectionError
        | pg.InterfaceError
        | pg.CannotConnectNowError
        | pg.OperatorInterventionError
        | pg.InsufficientResourcesError
        # A deadlock or serialization failure rolls the transaction back; it is the
        # database's answer to a lock another client holds, and the same write succeeds
        # when tried again (seen when a backup job locked tables under a live run).
        | pg.TransactionRollbackError
        | pg.LockNotAvailableError,
    ):
        return True
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        word in text
        for word in ("connection", "shutdown", "cannotconnectnow", "locked", "busy", "deadlock",
                     # SQLite file read-only, full or failing for a while: the connection
                     # is recycled (see database.py) and the write tried again.
                     *SQLITE_BROKEN)
    )
