"""`daq peel`: Peel tester: run a peel test, list results."""

import typer

app = typer.Typer(help="Peel tester: run a peel test, list results.", no_args_is_help=True)
