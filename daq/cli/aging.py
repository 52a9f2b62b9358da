"""`daq aging`: Aging oven: start, watch and pull specimens from a 1000-hour run."""

import typer

app = typer.Typer(
    help="Aging oven: start, watch and pull specimens from a 1000-hour run.", no_args_is_help=True
)
