"""`daq user add|list|role|token` in a subprocess, on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAQ = [str(Path(sys.executable).parent / "daq")]


def daq(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAQ_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(
        [*DAQ, "user", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_user_cli_adds_lists_changes_role_and_issues_a_token(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    added = daq("add", "ana", "--role", "operator", db=db)
    assert added.returncode == 0, added.stderr
    assert "user ana added with role operator" in added.stdout
    assert "password: " in added.stdout
    dup = daq("add", "ana", "--role", "operator", db=db)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert "Traceback" not in dup.stderr
    assert daq("role", "ana", "admin", db=db).returncode == 0
    listed = json.loads(daq("list", "--json", db=db).stdout)
    assert listed == [{"name": "ana", "role": "admin", "disabled": False}]
    token = daq("token", "ana", db=db)
    assert token.returncode == 0 and len(token.stdout.strip()) >= 40


def test_the_migration_head_read_without_alembic_is_alembics_own() -> None:
    # `daq user` skips Alembic when the database is at this head: it must be the real one.
    from daq.storage.database import script_head
    from daq.storage.migrate import head_revision

    assert script_head() == head_revision() is not None
