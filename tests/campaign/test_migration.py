"""The 0006_campaign migration builds the tables the models describe (SQLite and
PostgreSQL), and undoes them back to 0005."""

from __future__ import annotations

from tests.migrations import check_round_trip

CAMPAIGN_TABLES = {"campaigns", "campaign_steps"}


async def test_upgrade_builds_the_campaign_tables_as_modelled_and_downgrade_removes_them(
    db_url: str,
) -> None:
    await check_round_trip(db_url, CAMPAIGN_TABLES, down_to="0005", kept="runs")
