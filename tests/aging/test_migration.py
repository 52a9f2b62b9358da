"""The 0003_aging migration builds the tables the models describe, and undoes them."""

from __future__ import annotations

from pathlib import Path

from daq.storage.database import downgrade, upgrade
from tests.migrations import tables_and_diffs

AGING_TABLES = {"aging_runs", "aging_excursions", "aging_pullouts"}


async def test_upgrade_builds_the_aging_tables_as_modelled_and_downgrade_removes_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade(url)
    tables, diffs = await tables_and_diffs(url)
    assert tables >= AGING_TABLES
    ours = [d for d in diffs if any(t in repr(d) for t in AGING_TABLES)]
    assert ours == []
    await downgrade(url, "0002")
    tables, _ = await tables_and_diffs(url)
    assert not tables & AGING_TABLES and "specimens" in tables
    await upgrade(url)
    tables, _ = await tables_and_diffs(url)
    assert tables >= AGING_TABLES
