"""`daq laser`: UV laser: run a drilling job and grade it."""

import typer

app = typer.Typer(help="UV laser: run a drilling job and grade it.", no_args_is_help=True)
