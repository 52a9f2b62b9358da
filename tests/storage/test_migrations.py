"""Alembic migrations on SQLite and PostgreSQL: empty → head, previous → head, round trip."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from daq.storage.all_models import metadata
from daq.storage.database import create_engine, current_revision, downgrade, upgrade
from daq.storage.migrate import alembic_config, head_revision

CORE_TABLES = {
    "instruments",
    "samples",
    "laminates",
    "specimens",
    "runs",
    "run_events",
    "readings",
    "mqtt_outbox",
    "alarms",
    "audit_log",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
        return set(names)
    finally:
        await engine.dispose()


def _core_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = []
    for diff in compare_metadata(context, metadata):
        items = diff if isinstance(diff, list) else [diff]
        for item in items:
            text = repr(item)
            if any(f"'{table}'" in text or f"<{table}>" in text for table in CORE_TABLES):
                diffs.append(item)
    return diffs


async def test_empty_database_upgrades_to_head(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    assert await _tables(db_url) >= CORE_TABLES


async def test_core_revision_matches_the_models(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_core_differences)
    finally:
        await engine.dispose()
    assert differences == []


def _all_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_every_areas_migrations_match_their_models(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_all_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_database_at_the_previous_migration_upgrades_to_head(db_url: str) -> None:
    head = head_revision()
    script = ScriptDirectory.from_config(alembic_config())
    previous = script.get_revision(head).down_revision if head else None
    assert isinstance(previous, str | None)
    await upgrade(db_url, previous or "base")
    assert await current_revision(db_url) == previous
    await upgrade(db_url)
    assert await current_revision(db_url) == head


async def test_database_at_core_revision_upgrades_to_head(db_url: str) -> None:
    await upgrade(db_url, "0001")
    assert await current_revision(db_url) == "0001"
    assert await _tables(db_url) >= CORE_TABLES
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()


async def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    await upgrade(db_url)
    await downgrade(db_url, "base")
    assert await current_revision(db_url) is None
    assert not CORE_TABLES & await _tables(db_url)
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    assert await _tables(db_url) >= CORE_TABLES


@pytest.mark.postgres
async def test_stations_starting_together_migrate_one_after_the_other(
    postgres_database: str,
) -> None:
    from tests.conftest import _pg_admin

    name = postgres_database.rsplit("/", 1)[1]
    await _pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public", database=name)
    code = (
        "import asyncio, sys; from daq.storage.database import upgrade; "
        "asyncio.run(upgrade(sys.argv[1]))"
    )
    # Three service processes start at once against one shared database.
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", code, postgres_database,
                                             stderr=asyncio.subprocess.PIPE)
        for _ in range(3)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert await current_revision(postgres_database) == head_revision()


async def test_concurrent_upgrades_in_one_process_are_serialised(db_url: str) -> None:
    await asyncio.wait_for(asyncio.gather(*(upgrade(db_url) for _ in range(3))), 60)
    assert await current_revision(db_url) == head_revision()


def test_every_revision_file_is_one_link_of_a_single_chain() -> None:
    # Two files with one revision id make Alembic silently keep one of them (its tables are
    # then never built): every file must be walked, each id once, 0001 … head in order.
    from pathlib import Path

    script = ScriptDirectory.from_config(alembic_config())
    files = sorted(Path(script.versions).glob("0*.py"))
    chain = list(reversed([r.revision for r in script.walk_revisions()]))
    assert chain == [f"{n:04d}" for n in range(1, len(files) + 1)]
    assert [f.name[:4] for f in files] == chain
