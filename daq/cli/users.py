"""`daq user`: users and tokens of the operator API (add, list, role, token).

Works on the station's database (``DAQ_DATABASE_URL`` or ``--config``), migrating it to
the current schema first, so it can be used before the service ever ran.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from daq.api import accounts
from daq.config import load_settings

app = typer.Typer(help="Users and tokens of the operator API.", no_args_is_help=True)

T = TypeVar("T")
_err = Console(stderr=True)
_out = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="daq.toml (default: DAQ_CONFIG)")
]
UrlOpt = Annotated[str | None, typer.Option("--url", help="database URL (default: settings)")]


def _with_session(
    config: Path | None, url: str | None, work: Callable[..., Awaitable[T]]
) -> T:
    """Run ``work(session)`` on the station database; errors become a message and exit 1."""
    from daq.storage.database import create_engine, session_factory, upgrade

    async def main() -> T:
        db_url = url or load_settings(config).database_url
        await upgrade(db_url)
        engine = create_engine(db_url)
        try:
            async with session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except accounts.AccountError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # no traceback for an operator
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None


@app.command("add")
def add(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    password: Annotated[
        str | None, typer.Option(help="password (generated and printed when omitted)")
    ] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Add a user with a role; prints the password once when it was generated."""
    if role not in accounts.ROLES:
        _err.print(f"[red]error:[/red] role must be one of {', '.join(accounts.ROLES)}")
        raise typer.Exit(2)
    created = _with_session(
        config, url, lambda s: accounts.add_user(s, name, role, password)
    )
    _out.print(f"user {name} added with role {role}")
    if password is None:
        _out.print(f"password: {created}")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """List users and their roles."""
    users = _with_session(config, url, accounts.list_users)
    if as_json:
        print(json.dumps([{"name": u.name, "role": u.role, "disabled": u.disabled} for u in users]))
        return
    table = Table("name", "role", "disabled")
    for u in users:
        table.add_row(u.name, u.role, "yes" if u.disabled else "")
    _out.print(table)


@app.command("role")
def role(name: str, new_role: str, config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Change a user's role."""
    _with_session(config, url, lambda s: accounts.set_role(s, name, new_role))
    _out.print(f"user {name} now has role {new_role}")


@app.command("token")
def token(
    name: str,
    hours: Annotated[float, typer.Option(
        help="lifetime in hours (every token expires; at most 720)")] = 12.0,
    label: Annotated[str | None, typer.Option(help="what the token is for")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Issue a bearer token for a user (for scripts and other programs)."""
    issued, _ = _with_session(
        config, url,
        lambda s: accounts.issue_token(s, name, hours * 3600, label),
    )
    print(issued)
