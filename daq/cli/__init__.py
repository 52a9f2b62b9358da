"""The ``daq`` command line: one module per command group, registered here."""

import typer

from daq.cli import (
    aging,
    campaign,
    db,
    laser,
    peel,
    press,
    report,
    runs,
    service,
    simulate,
    users,
)

app = typer.Typer(
    name="daq",
    help="Lamina DAQ: drive the lab's instruments, record and publish what they measure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(press.app, name="press")
app.add_typer(simulate.app, name="simulate")
app.add_typer(runs.app, name="runs")
app.add_typer(db.app, name="db")
app.add_typer(peel.app, name="peel")
app.add_typer(aging.app, name="aging")
app.add_typer(laser.app, name="laser")
app.add_typer(users.app, name="user")
app.add_typer(campaign.app, name="campaign")
service.register(app)
report.register(app)


def main() -> None:
    """Entry point of the ``daq`` console script."""
    app()
