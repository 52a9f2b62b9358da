"""Which database errors the journal retries (transient) and which it keeps aside."""

from __future__ import annotations

import asyncpg.exceptions as pg

from daq.storage.errors import is_transient


def test_a_deadlock_or_serialization_failure_is_retried_not_refused() -> None:
    # PostgreSQL rolls a write back when another client's LOCK TABLE deadlocks with it;
    # the same write goes through once the lock is gone, so it must not be set aside.
    assert is_transient(pg.DeadlockDetectedError("deadlock detected"))
    assert is_transient(pg.SerializationError("could not serialize access"))
    assert is_transient(pg.LockNotAvailableError("could not obtain lock on relation"))


def test_a_refusal_of_the_record_itself_is_not_retried() -> None:
    assert not is_transient(pg.UniqueViolationError("duplicate key value"))
    assert not is_transient(pg.NotNullViolationError("null value in column"))
