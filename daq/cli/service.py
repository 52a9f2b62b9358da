"""`daq run` and `daq instruments`: the service itself and a health check of its instruments."""

import typer


def register(app: typer.Typer) -> None:
    """Add the service commands to the top-level ``daq`` app."""
