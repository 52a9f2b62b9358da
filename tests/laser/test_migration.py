"""The 0004 laser revision: upgrade from 0003 creates the laser tables, downgrade drops them."""

from __future__ import annotations

from sqlalchemy import inspect

from daq.storage.database import create_engine, current_revision, downgrade, upgrade
from daq.storage.laser_models import LaserHoleRow, LaserJobRow


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            cols = await conn.run_sync(lambda c: inspect(c).get_columns(table))
            return {c["name"] for c in cols}
    finally:
        await engine.dispose()


async def test_laser_revision_up_and_down(db_url: str) -> None:
    await upgrade(db_url, "0003")
    assert not {"laser_jobs", "laser_holes"} & await _tables(db_url)
    await upgrade(db_url, "0004")
    assert await current_revision(db_url) == "0004"
    assert {"laser_jobs", "laser_holes"} <= await _tables(db_url)
    # The migration creates exactly the columns the models declare.
    assert await _columns(db_url, "laser_jobs") == set(LaserJobRow.__table__.columns.keys())
    assert await _columns(db_url, "laser_holes") == set(LaserHoleRow.__table__.columns.keys())
    await upgrade(db_url, "head")
    await downgrade(db_url, "0003")
    assert not {"laser_jobs", "laser_holes"} & await _tables(db_url)
    await upgrade(db_url, "head")
    assert {"laser_jobs", "laser_holes"} <= await _tables(db_url)
