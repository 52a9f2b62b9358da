"""The 0003_aging migration builds the tables the models describe, and undoes them."""

from __future__ import annotations

from pathlib import Path

from tests.migrations import check_round_trip

AGING_TABLES = {"aging_runs", "aging_excursions", "aging_pullouts"}


async def test_upgrade_builds_the_aging_tables_as_modelled_and_downgrade_removes_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await check_round_trip(url, AGING_TABLES, down_to="0002", kept="specimens")
