"""The 0008_queue migration builds queue_items as modelled (SQLite and PostgreSQL) and
undoes it back to 0007 (the instrument claims stay)."""

from __future__ import annotations

from daq.storage.database import downgrade, upgrade
from tests.migrations import tables_and_diffs


async def test_upgrade_builds_queue_items_as_modelled_and_downgrade_removes_it(
    db_url: str,
) -> None:
    await upgrade(db_url)
    tables, diffs = await tables_and_diffs(db_url)
    assert "queue_items" in tables
    assert [d for d in diffs if "queue_items" in repr(d)] == []
    await downgrade(db_url, "0007")
    tables, _ = await tables_and_diffs(db_url)
    assert "queue_items" not in tables and "instrument_claims" in tables
