"""A SQLite file that could not be written for a while (#15, probe 5): connections the
station opened meanwhile are read-only for life, so the pool must throw them away.

The read-only connections are SQLite's own: while the "outage" lasts, every connection the
pool opens is made ``PRAGMA query_only`` (SQLite then refuses writes with "attempt to
write a readonly database", as it does for a file opened read-only). Making the file
itself unwritable (``chattr +i``) does not do it reliably within one process: SQLite
hands a new connection a descriptor an earlier connection left open for writing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import Station, running_station, station_settings


@contextmanager
def read_only_connections(engine: AsyncEngine) -> Iterator[None]:
    """Every connection ``engine`` opens meanwhile is read-only for its life."""

    def make_read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    event.listen(engine.sync_engine, "connect", make_read_only)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "connect", make_read_only)


async def put_recipe(station: Station, name: str) -> int:
    async with station.client("operator") as op:
        got = await op.put(f"/api/recipes/{name}", json={"temperature_c": 180.0})
        return got.status_code


async def test_connections_opened_while_the_file_was_read_only_are_recycled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_station(station_settings(tmp_path)) as station:
        lab = station.lab
        audit = station.app.state.audit_counters
        assert await put_recipe(station, "before") == 200
        assert lab.engine is not None
        with read_only_connections(lab.engine), caplog.at_level(logging.WARNING):
            await lab.engine.dispose()  # every connection from now on opens read-only
            failures = audit.failures
            # Refused plainly (503, try again), the station running on.
            assert await put_recipe(station, "during") == 503
            assert audit.failures > failures, "the audit row was written to a read-only file"
        # The file is writable again: the very next request is stored, recipe and audit.
        written = audit.written
        assert await put_recipe(station, "after") == 200
        assert audit.written == written + 1
        async with station.client("viewer") as viewer:
            names = {r["name"] for r in (await viewer.get("/api/recipes")).json()}
        assert {"before", "after"} <= names
    recycled = [r for r in caplog.records if "recycling the station's connections" in r.message]
    assert len(recycled) == 1, [r.message for r in recycled]
