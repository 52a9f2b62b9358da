"""The 0007_ownership migration builds instrument_claims and re-keys instruments by
(station, name) as the models describe (SQLite and PostgreSQL), and undoes it to 0006."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, current_revision, downgrade, upgrade


async def _schema(url: str) -> tuple[set[str], list[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            key = await conn.run_sync(
                lambda c: inspect(c).get_pk_constraint("instruments")["constrained_columns"])
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        return tables, list(key), diffs
    finally:
        await engine.dispose()


async def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_upgrade_0006_to_0007_and_back(db_url: str) -> None:
    await upgrade(db_url, "0006")
    await _sql(db_url, "INSERT INTO instruments (name, driver, resource, status) "
                       "VALUES ('press1', 'lamination_press', 'TCPIP::h::5025::SOCKET', 'offline')")
    await upgrade(db_url, "0007")
    assert await current_revision(db_url) == "0007"
    tables, key, diffs = await _schema(db_url)
    assert "instrument_claims" in tables and key == ["station", "name"]
    relevant = [d for d in diffs if "instrument" in repr(d)]
    assert relevant == []
    # The row of before survives with station "" (unknown); two stations' press1 coexist.
    assert await _sql(db_url, "SELECT station, name FROM instruments") == [("", "press1")]
    for station in ("lab1", "lab2"):
        await _sql(db_url, "INSERT INTO instruments (station, name, driver, resource, status) "
                           f"VALUES ('{station}', 'press1', 'lamination_press', 'r', 'offline')")
    assert len(await _sql(db_url, "SELECT name FROM instruments")) == 3
    await downgrade(db_url, "0006")
    tables, key, _ = await _schema(db_url)
    assert "instrument_claims" not in tables and key == ["name"]
    assert await _sql(db_url, "SELECT name FROM instruments") == [("press1",)]
    await upgrade(db_url)
    tables, key, _ = await _schema(db_url)
    assert "instrument_claims" in tables and key == ["station", "name"]
