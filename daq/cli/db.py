"""`daq db`: Database maintenance (migrations)."""

import typer

app = typer.Typer(help="Database maintenance (migrations).", no_args_is_help=True)
