"""`daq runs`: Runs on record: list, show, export."""

import typer

app = typer.Typer(help="Runs on record: list, show, export.", no_args_is_help=True)
