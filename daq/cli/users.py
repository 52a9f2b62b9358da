"""`daq user`: Users and tokens of the operator API."""

import typer

app = typer.Typer(help="Users and tokens of the operator API.", no_args_is_help=True)
