"""`daq simulate`: Run simulated instruments alone and print their resource strings."""

import typer

app = typer.Typer(
    help="Run simulated instruments alone and print their resource strings.", no_args_is_help=True
)
