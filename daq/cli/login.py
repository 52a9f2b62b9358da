"""`daq login`: get a token from the station and keep it for the other commands.

``POST /api/auth/token`` with a user name and password (prompted, or one line on stdin
with ``--password-stdin``); the token is stored for that station's URL in
``$XDG_CONFIG_HOME/lamina/token`` (``~/.config/lamina/token``), mode 0600. ``DAQ_TOKEN``
overrides it; ``DAQ_STATION_URL`` (or ``--url``) picks the station.
"""

from __future__ import annotations

import getpass
import sys

import typer

from daq.cli.loop import run
from daq.cli.output import EXIT_REFUSED, console, fail, operator_errors
from daq.client import NotAuthorized, Station, Token, save_token, station_url


def register(app: typer.Typer) -> None:
    """Add ``daq login`` to the top-level app."""
    app.command("login")(login)


async def _login(url: str, user: str, password: str) -> Token:
    async with Station(url, token="") as station:
        return await station.login(user, password)


def login(
    url: str | None = typer.Option(None, "--url", help="The station (env DAQ_STATION_URL; "
                                   "default http://127.0.0.1:8000)."),
    user: str | None = typer.Option(None, "--user", help="User name (default: your login)."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from one line of stdin."),
) -> None:
    """Log in to the station and store the token for the other commands."""
    with operator_errors():
        target = station_url(url)
        name = user or getpass.getuser()
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"password for {name} at {target}: ")
        if not password:
            fail("no password given", EXIT_REFUSED)
        try:
            token = run(_login(target, name, password))
        except NotAuthorized as exc:
            fail(f"{target}: {exc}", EXIT_REFUSED)
        path = save_token(target, token.access_token)
        console.print(f"logged in to {target} as {token.username} ({token.role}); "
                      f"token stored in {path}", soft_wrap=True)
