"""The 0002_peel migration creates the tables the models describe, and drops them again."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from daq.storage.database import create_engine, downgrade, upgrade
from daq.storage.peel_models import PeelResultRow, PeelTestRow


async def _tables(engine: AsyncEngine) -> dict[str, set[str]]:
    async with engine.connect() as conn:
        def read(sync_conn: object) -> dict[str, set[str]]:
            insp = inspect(sync_conn)
            return {
                t: {c["name"] for c in insp.get_columns(t)}
                for t in insp.get_table_names()
            }
        return await conn.run_sync(read)


async def test_0002_creates_peel_tables_matching_the_models_and_downgrades(
    peel_db_url: str,
) -> None:
    engine = create_engine(peel_db_url)
    try:
        await upgrade(engine, "0002")
        tables = await _tables(engine)
        for model in (PeelTestRow, PeelResultRow):
            expected = {c.name for c in model.__table__.columns}
            assert tables[model.__tablename__] == expected
        if peel_db_url.startswith("postgresql"):
            async with engine.connect() as conn:
                storage = await conn.scalar(text(
                    "SELECT attstorage FROM pg_attribute "
                    "WHERE attrelid = 'peel_tests'::regclass AND attname = 'curve'"))
            assert storage in ("e", b"e")  # out of line, uncompressed: packed floats don't compress
        await downgrade(engine, "0001")
        tables = await _tables(engine)
        assert "peel_tests" not in tables and "peel_results" not in tables
        assert "runs" in tables
    finally:
        await engine.dispose()
