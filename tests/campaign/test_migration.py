"""The 0006_campaign migration builds the tables the models describe (SQLite and
PostgreSQL), and undoes them back to 0005."""

from __future__ import annotations

from daq.storage.database import downgrade, upgrade
from tests.migrations import tables_and_diffs

CAMPAIGN_TABLES = {"campaigns", "campaign_steps"}


async def test_upgrade_builds_the_campaign_tables_as_modelled_and_downgrade_removes_them(
    db_url: str,
) -> None:
    await upgrade(db_url)
    tables, diffs = await tables_and_diffs(db_url)
    assert tables >= CAMPAIGN_TABLES
    assert [d for d in diffs if any(t in repr(d) for t in CAMPAIGN_TABLES)] == []
    await downgrade(db_url, "0005")
    tables, _ = await tables_and_diffs(db_url)
    assert not tables & CAMPAIGN_TABLES and "runs" in tables
    await upgrade(db_url)
    tables, _ = await tables_and_diffs(db_url)
    assert tables >= CAMPAIGN_TABLES
