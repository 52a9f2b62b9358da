"""`daq press`: Lamination press: run a cycle, read the press."""

import typer

app = typer.Typer(help="Lamination press: run a cycle, read the press.", no_args_is_help=True)
