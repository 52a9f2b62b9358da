"""`daq db`: database maintenance (migrations), and the database access the CLI shares."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from daq.config import load_settings
from daq.storage.errors import (
    DatabaseUnavailable,
    DatabaseUrlError,
    RunNotFound,
    StorageError,
    explain_failure,
)

app = typer.Typer(help="Database maintenance (migrations).", no_args_is_help=True)

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="daq.toml to read (default: DAQ_CONFIG)")
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="database URL (default: DAQ_DATABASE_URL or the config file)"),
]

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error for the operator (no traceback) and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def database_url(config: Path | None, url: str | None) -> str:
    """The database URL: ``--url``, else settings (env ``DAQ_DATABASE_URL``, config file)."""
    if url:
        return url
    try:
        return load_settings(config).database_url
    except (OSError, ValueError) as exc:
        fail(f"cannot read the configuration: {exc}")


def shown(url: str) -> str:
    """The URL as it may be printed (password hidden)."""
    from daq.storage.database import shown_url

    return shown_url(url)


def require_sqlite_file(url: str) -> None:
    """Refuse to read a SQLite database that does not exist (instead of creating it)."""
    from daq.storage.database import backend_of, sqlite_file

    try:
        backend_of(url)
    except DatabaseUrlError as exc:
        fail(str(exc))
    database = sqlite_file(url)
    if database is not None and not database.exists():
        fail(f"no database file {database} (create it with `daq db upgrade`)")


def run_db(url: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` and turn every database failure into a clear message and exit code."""
    try:
        return asyncio.run(_guard(work))
    except BrokenPipeError:
        # The reader went away (`daq runs export … | head`): not an error of ours.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except RunNotFound as exc:
        fail(str(exc), code=1)
    except DatabaseUrlError as exc:
        fail(str(exc))
    except (DatabaseUnavailable, StorageError) as exc:
        fail(str(exc))
    except Exception as exc:
        message = explain_failure(exc, shown(url))
        if message is None:
            raise
        fail(message)


async def _guard(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


@app.command()
def upgrade(
    config: ConfigOption = None,
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Migrate the database to the newest schema (creates a SQLite file if needed)."""
    from daq.storage import database
    from daq.storage.database import backend_of

    target = database_url(config, url)
    try:
        backend_of(target)
    except DatabaseUrlError as exc:
        fail(str(exc))

    async def work() -> tuple[str | None, str | None]:
        before = await database.current_revision(target)
        await database.upgrade(target, revision)
        return before, await database.current_revision(target)

    before, after = run_db(target, work)
    if before == after:
        typer.echo(f"{shown(target)}: already at revision {after}")
    else:
        typer.echo(f"{shown(target)}: upgraded from {before or 'empty'} to {after}")


@app.command()
def current(config: ConfigOption = None, url: UrlOption = None) -> None:
    """Show the revision the database is at and the newest one available."""
    from daq.storage import database
    from daq.storage.migrate import head_revision

    target = database_url(config, url)
    require_sqlite_file(target)
    revision = run_db(target, lambda: database.current_revision(target))
    head = head_revision()
    state = "up to date" if revision == head else "run `daq db upgrade`"
    typer.echo(f"{shown(target)}: revision {revision or 'none'} (newest {head}; {state})")
